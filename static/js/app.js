// Small enhancements on top of pages that work without JavaScript.
document.addEventListener("click", (event) => {
  // Period quick picks: fill the date inputs and let the filter form do the rest (htmx).
  const preset = event.target.closest("[data-period-from]");
  if (preset) {
    const form = document.getElementById("filters");
    if (!form || !window.htmx) return;
    event.preventDefault();
    form.elements.requested_from.value = preset.dataset.periodFrom;
    form.elements.requested_to.value = preset.dataset.periodTo;
    form.requestSubmit();
    return;
  }
  // "Back to the list" returns to the filtered list the user came from.
  const back = event.target.closest("[data-back-to-list]");
  if (back && document.referrer) {
    const from = new URL(document.referrer);
    if (from.origin === location.origin && from.pathname === back.pathname) {
      event.preventDefault();
      history.back();
    }
  }
});

// Keep filter URLs short and shareable: leave out fields the user left empty.
document.addEventListener("htmx:configRequest", (event) => {
  const data = event.detail.formData;
  if (!data) return;
  for (const key of new Set(data.keys())) {
    const values = data.getAll(key).filter((value) => value !== "");
    data.delete(key);
    values.forEach((value) => data.append(key, value));
  }
});

// Fields marked data-submit-on-change (the organization switcher) submit their form when
// changed; without JavaScript the form's own button does. (No inline handlers: the
// Content-Security-Policy allows scripts from files only.)
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-submit-on-change]");
  if (field && field.form) field.form.requestSubmit();
});

// The whole row of a list marked .row-links opens what its link (data-row-link) opens.
// The link stays the keyboard's and screen readers' way in; clicks on other controls in
// the row, and clicks that end a text selection, are left alone.
document.addEventListener("click", (event) => {
  const row = event.target.closest(".row-links tbody tr");
  if (!row || event.defaultPrevented || event.button !== 0) return;
  if (event.target.closest("a, button, input, select, textarea, label, summary")) return;
  if (String(window.getSelection() || "") !== "") return;
  const link = row.querySelector("a[data-row-link]");
  if (!link) return;
  if (event.ctrlKey || event.metaKey || event.shiftKey) window.open(link.href, "_blank");
  else location.assign(link.href);
});

// A table header can stick to the top of the window only when no box around it scrolls,
// so a table's box stops scrolling (.fits, app.css) when the table fits its width.
function markFittingTables() {
  document.querySelectorAll(".table-wrap").forEach((wrap) => {
    const table = wrap.querySelector("table");
    // Boxes with a height of their own scroll on purpose (the dashboard's tables).
    if (!table || getComputedStyle(wrap).maxHeight !== "none") return;
    const fits = table.offsetWidth <= wrap.clientWidth;
    wrap.classList.toggle("fits", fits);
    // The box takes the Tab key (tabindex="0" in the markup, for when this script does not
    // run) only while it scrolls: a keyboard scrolls it sideways from there.
    if (fits) wrap.removeAttribute("tabindex");
    else wrap.setAttribute("tabindex", "0");
  });
}
let fitPending = false;
function markFittingTablesSoon() {
  if (fitPending) return;
  fitPending = true;
  requestAnimationFrame(() => {
    fitPending = false;
    markFittingTables();
  });
}
window.addEventListener("resize", markFittingTablesSoon);
document.addEventListener("htmx:afterSettle", markFittingTablesSoon);

// A group of checkbox chips with many choices (the senders) gets a search box that hides
// the chips not matching; ticked chips always stay in sight. Without JavaScript the box
// stays hidden and every chip is shown. Digits match with or without hyphens.
const CHOICE_SEARCH_FROM = 8;
const digitsOnly = (text) => text.replace(/[^0-9]/g, "");
function setUpChoiceSearch() {
  document.querySelectorAll("input[data-choice-search]").forEach((search) => {
    const group = search.closest("fieldset");
    const choices = Array.from(group.querySelectorAll(".choice"));
    if (search.dataset.ready || choices.length < CHOICE_SEARCH_FROM) return;
    search.dataset.ready = "1";
    search.hidden = false;
    const none = group.querySelector(".choice-none");
    const narrow = () => {
      const query = search.value.trim().toLowerCase();
      const queryDigits = digitsOnly(query);
      let shown = 0;
      choices.forEach((choice) => {
        const text = choice.textContent.toLowerCase();
        const matches =
          query === "" ||
          text.includes(query) ||
          (queryDigits !== "" && queryDigits === query.replace(/[\s-]/g, "") && digitsOnly(text).includes(queryDigits));
        choice.hidden = !(matches || choice.querySelector("input").checked);
        if (!choice.hidden) shown += 1;
      });
      if (none) none.hidden = shown > 0;
    };
    search.addEventListener("input", narrow);
    // The box only narrows the chips: it is no filter of its own, so its changes and its
    // Enter key must not submit the form.
    search.addEventListener("change", (event) => event.stopPropagation());
    search.addEventListener("keydown", (event) => {
      if (event.key === "Enter") event.preventDefault();
    });
  });
}

// The export button names the file it makes ("Excel 다운로드" / "CSV 다운로드"), following
// the format chosen next to it.
function labelExportButtons() {
  document.querySelectorAll(".export-form select[name=file_format]").forEach((select) => {
    const button = select.form && select.form.querySelector("button[data-label-xlsx]");
    const label = button && button.dataset[`label${select.value.charAt(0).toUpperCase()}${select.value.slice(1)}`];
    if (label) button.textContent = label;
  });
}
document.addEventListener("change", (event) => {
  if (event.target.matches(".export-form select[name=file_format]")) labelExportButtons();
});
document.addEventListener("htmx:afterSettle", labelExportButtons);

function enhance() {
  markFittingTables();
  setUpChoiceSearch();
  labelExportButtons();
}
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", enhance);
else enhance();

// On a phone the results' filters fold behind a "필터 n" button (app.css hides the form
// while the button says aria-expanded="false"). The form stands outside the htmx fragment,
// so its fold survives filter changes; the fragment brings the count of filters it
// applies (data-active-filters) and the button follows it. Without JavaScript the button
// stays hidden and the filters stay open.
function setUpFilterToggle() {
  document.querySelectorAll("button[data-filter-toggle]").forEach((button) => {
    button.hidden = false;
  });
}
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-filter-toggle]");
  if (!button) return;
  button.setAttribute("aria-expanded", String(button.getAttribute("aria-expanded") !== "true"));
});
document.addEventListener("htmx:afterSettle", () => {
  const results = document.querySelector("[data-active-filters]");
  if (!results) return;
  document.querySelectorAll("button[data-filter-toggle] .filter-count").forEach((count) => {
    count.textContent = results.dataset.activeFilters;
    count.hidden = results.dataset.activeFilters === "0";
  });
});
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUpFilterToggle);
else setUpFilterToggle();

// On a phone the menu is one row that scrolls sideways: the current page's item in sight.
function showCurrentMenuItem() {
  const current = document.querySelector(".mainnav [aria-current='page']");
  const menu = current && current.closest(".mainnav");
  if (!current || !menu || menu.scrollWidth <= menu.clientWidth) return;
  const left = current.offsetLeft - menu.offsetLeft;
  menu.scrollLeft = left - (menu.clientWidth - current.offsetWidth) / 2;
}
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", showCurrentMenuItem);
else showCurrentMenuItem();
