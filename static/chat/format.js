// Numbers and costs as the page shows them.

// One formatter for the page: toLocaleString builds a new one on every call, which a long
// conversation's details lines (thousands of numbers) pay for at load.
const NUMBER = new Intl.NumberFormat("en-US");

export function formatNumber(value) {
  return NUMBER.format(Number(value));
}

// Decimal strings from the server: four places, enough to see what one reply costs.
export function formatCost(value) {
  const amount = Number(value);
  if (amount > 0 && amount < 0.0001) return "<$0.0001";
  return `$${amount.toFixed(4)}`;
}

// "950", "1.2k", "45k", "1.5M": for the compact details line (full figures go in a title).
export function formatCompact(value) {
  const n = Number(value);
  if (n < 1000) return String(n);
  if (n < 10_000) return `${trimZero((n / 1000).toFixed(1))}k`;
  if (n < 1_000_000) return `${Math.round(n / 1000)}k`;
  return `${trimZero((n / 1_000_000).toFixed(1))}M`;
}

function trimZero(text) {
  return text.endsWith(".0") ? text.slice(0, -2) : text;
}

// Dollars per million tokens as a price list shows them: "$3", "$0.30", "$3.75".
export function formatPrice(value) {
  const amount = Number(value);
  return Number.isInteger(amount) ? `$${amount}` : `$${amount.toFixed(2)}`;
}
