// Numbers and costs as the page shows them.

export function formatNumber(value) {
  return Number(value).toLocaleString("en-US");
}

// Decimal strings from the server: four places, enough to see what one reply costs.
export function formatCost(value) {
  const amount = Number(value);
  if (amount > 0 && amount < 0.0001) return "<$0.0001";
  return `$${amount.toFixed(4)}`;
}
