/** Client-side checks mirroring the BFF's own (servicekit.fields): same bounds, clearer words. */
export const MAX_QUANTITY = 10_000;
export const MAX_NAME_LENGTH = 200;

export interface OrderFormValues {
  customerName: string;
  productId: string;
  quantity: string;
}

export type OrderField = 'customer_name' | 'product_id' | 'quantity';
export type FieldErrors = Partial<Record<OrderField, string>>;

export const FIELD_ORDER: readonly OrderField[] = ['customer_name', 'product_id', 'quantity'];

/** The quantity as typed, with full-width digits (a Japanese input method's) made plain. */
function quantityText(typed: string): string {
  return typed.normalize('NFKC').trim();
}

/** The number to send for a quantity that passed {@link validateOrder}. */
export function quantityValue(typed: string): number {
  return Number(quantityText(typed));
}

/** The quantity typed, if {@link validateOrder} would take it: else null (not `1e2`). */
export function validQuantity(typed: string): number | null {
  const text = quantityText(typed);
  if (!/^[+-]?\d+$/.test(text)) return null;
  const n = Number(text);
  return n >= 1 && n <= MAX_QUANTITY ? n : null;
}

/** A trimmed name's length as the BFF measures it (servicekit.fields.NameQueryField): in
 * one spelling first (NFC), then in characters (code points), not in UTF-16 units. An emoji
 * is one; "é" typed as "e" and a combining accent is one too, as the BFF stores it. */
export function nameLength(name: string): number {
  return [...name.normalize('NFC')].length;
}

export function validateOrder(values: OrderFormValues): FieldErrors {
  const errors: FieldErrors = {};
  const name = values.customerName.trim();
  if (!name) errors.customer_name = 'Customer name is required.';
  else if (nameLength(name) > MAX_NAME_LENGTH)
    errors.customer_name = `Customer name must be at most ${MAX_NAME_LENGTH} characters.`;

  if (!values.productId) errors.product_id = 'Choose a product.';

  const quantity = quantityText(values.quantity);
  if (!quantity) errors.quantity = 'Quantity is required.';
  else if (!/^[+-]?\d+$/.test(quantity)) errors.quantity = 'Quantity must be a whole number.';
  else if (validQuantity(quantity) === null)
    errors.quantity = `Quantity must be between 1 and ${MAX_QUANTITY.toLocaleString('en-US')}.`;
  return errors;
}

/** The BFF's 400 `errors` per field, as one sentence per field this form shows. */
export function serverFieldErrors(errors: Record<string, string[]>): FieldErrors {
  const result: FieldErrors = {};
  for (const field of FIELD_ORDER) {
    const messages = errors[field];
    if (messages?.length) result[field] = messages.join(' ');
  }
  return result;
}
