// What a page says after a submit, without inline scripts (CSP):
// - an invalid form's error summary is opened, scrolled into view and focused; its links focus the field;
// - the confirmation of a save is shown in the part of the page the save returned to (#anchor);
// - a form (or its submit button) with data-confirm="…" is submitted only once the user agrees.
//   data-confirm-field / data-confirm-value limit the question to one choice (a status of "withdrawn").
(function () {
  "use strict";

  function openDetails(element) {
    for (let node = element; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") node.open = true;
    }
  }

  function showErrorSummary() {
    const summary = document.querySelector("[data-error-summary]");
    if (!summary) return false;
    openDetails(summary);
    summary.scrollIntoView({ block: "start" });
    summary.focus({ preventScroll: true });
    return true;
  }

  function linkSummaryToFields() {
    document.addEventListener("click", (event) => {
      const link = event.target.closest("[data-error-summary] a[href^='#']");
      if (!link) return;
      const field = document.getElementById(decodeURIComponent(link.getAttribute("href").slice(1)));
      if (!field) return;
      event.preventDefault();
      openDetails(field);
      field.scrollIntoView({ block: "center" });
      field.focus({ preventScroll: true });
    });
  }

  function showMessagesWhereTheSaveReturned() {
    const list = document.querySelector("ul.messages");
    if (!list || !window.location.hash) return;
    const target = document.getElementById(decodeURIComponent(window.location.hash.slice(1)));
    if (!target || target.contains(list)) return;
    const heading = target.querySelector("h2, h3");
    if (heading && heading.parentElement === target) heading.after(list);
    else target.prepend(list);
    openDetails(target);
  }

  function confirmText(form, submitter) {
    const source = submitter && submitter.hasAttribute("data-confirm") ? submitter : form;
    const text = source.getAttribute("data-confirm");
    if (!text) return "";
    const name = source.getAttribute("data-confirm-field");
    if (name) {
      const control = form.elements.namedItem(name);
      if (!control || control.value !== source.getAttribute("data-confirm-value")) return "";
    }
    return text;
  }

  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target;
      if (!(form instanceof HTMLFormElement)) return;
      const text = confirmText(form, event.submitter);
      if (text && !window.confirm(text)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true,
  );

  function start() {
    linkSummaryToFields();
    if (!showErrorSummary()) showMessagesWhereTheSaveReturned();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
