// Small improvements only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // "Copy" buttons copy the text of the element they name.
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(source.value ?? source.textContent);
        button.textContent = "Copied";
      } catch {
        source.select?.();
        button.textContent = "Press Ctrl+C to copy";
      }
    });
  }
  // "Add" next to a repeated field adds another empty row of it.
  for (const button of document.querySelectorAll("[data-add-row]")) {
    button.addEventListener("click", (event) => {
      const list = document.getElementById(button.dataset.addRow);
      const row = list.lastElementChild.cloneNode(true);
      const input = row.querySelector("input");
      input.value = "";
      input.id = "";
      input.removeAttribute("aria-invalid");
      input.removeAttribute("autofocus");
      // Keep the new row labelled: "Name 4" for the fourth row.
      const label = row.querySelector("label");
      if (label) {
        const number = list.children.length + 1;
        input.id = `${input.name}-${number}`;
        label.htmlFor = input.id;
        const shown = label.querySelector("[data-row-number]");
        if (shown) shown.textContent = String(number);
      }
      list.appendChild(row);
      input.focus();
      event.preventDefault();
    });
  }
});
