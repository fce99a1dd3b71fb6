from tests.conftest import RunCli


def test_init_twice_changes_nothing(run_cli: RunCli) -> None:
    first = run_cli("init")
    assert first.code == 0, first.err
    assert "Initialised" in first.out
    second = run_cli("init")
    assert second.code == 0
    assert "nothing changed" in second.out
