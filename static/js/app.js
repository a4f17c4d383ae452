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
