/** Elements whose role is generic (or none): ARIA forbids naming them, so screen readers
 * ignore their aria-label and read only their content. */
const GENERIC = 'span, div, p, pre, code, b, i, em, strong, small';

/** The aria-labels under ``container`` that no screen reader reads. */
export function ignoredLabels(container: Element): string[] {
  return [...container.querySelectorAll(`:is(${GENERIC})[aria-label]:not([role])`)].map(
    (element) => `<${element.tagName.toLowerCase()} aria-label="${element.getAttribute('aria-label')}">`,
  );
}
