// The mobile journey, written against types openapi-typescript generates from the shop's schema.
// tests/client_gen/test_typescript_client.py generates generated/schema.d.ts and runs `tsc --noEmit`:
// a renamed operation, a body that is not JSON, a missing field or a loose type fails the check.
import type { components, operations } from "./generated/schema";

type Schemas = components["schemas"];
type JsonBody<Op extends keyof operations> = operations[Op] extends {
  requestBody: { content: { "application/json": infer Body } };
}
  ? Body
  : never;
type Answer<Op extends keyof operations, Status extends keyof operations[Op]["responses"]> =
  operations[Op]["responses"][Status] extends { content: { "application/json": infer Body } } ? Body : never;
type Params<Op extends keyof operations> = operations[Op]["parameters"];

const BASE = "http://127.0.0.1:8000";

async function call<Op extends keyof operations>(
  _operation: Op,
  method: "GET" | "POST" | "PATCH" | "DELETE",
  path: string,
  options: { body?: JsonBody<Op>; token?: string; idempotencyKey?: string } = {},
): Promise<{ status: number; json: unknown }> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.token) headers["X-Session-Token"] = options.token;
  if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
  const init: RequestInit = { method, headers };
  if (options.body !== undefined) init.body = JSON.stringify(options.body);
  const response = await fetch(BASE + path, init);
  return { status: response.status, json: await response.json().catch(() => null) };
}

function money(amount: string): Schemas["MoneyAmount"] {
  return { amount, currency: "USD" };
}

export async function journey(email: string, password: string, code: string): Promise<string> {
  const signup: JsonBody<"auth_signup"> = { email, password };
  const pending = (await call("auth_signup", "POST", "/_allauth/app/v1/auth/signup", { body: signup }))
    .json as Answer<"auth_signup", 401>;
  const verify: JsonBody<"auth_email_verify"> = { key: code };
  await call("auth_email_verify", "POST", "/_allauth/app/v1/auth/email/verify", {
    body: verify,
    token: pending.meta.session_token ?? "",
  });
  const login: JsonBody<"auth_login"> = { email, password };
  const session = (await call("auth_login", "POST", "/_allauth/app/v1/auth/login", { body: login }))
    .json as Answer<"auth_login", 200>;
  const token = session.meta.session_token ?? "";

  const search: Params<"product_search">["query"] = { search: "trail runner", page: 1, page_size: 10, currency: "USD" };
  const page = (await call("product_search", "GET", `/api/v1/products/?search=${search?.search ?? ""}`))
    .json as Answer<"product_search", 200>;
  const product: Schemas["ProductListItem"] | undefined = page.results[0];
  if (!product) return "nothing found";

  const line: JsonBody<"cart_line_add"> = { product: product.id, quantity: 1 };
  const cart = (await call("cart_line_add", "POST", "/api/v1/cart/lines/", { body: line, token }))
    .json as Answer<"cart_line_add", 201>;
  const subtotal: string = cart.subtotal.amount;

  const open: JsonBody<"wallet_open"> = { currency: "USD" };
  const wallet = (await call("wallet_open", "POST", "/api/v1/wallets/", { body: open, token }))
    .json as Answer<"wallet_open", 201>;
  const deposit: JsonBody<"wallet_deposit"> = { amount: money("100.00"), card_token: "tok_ok" };
  const paid = await call("wallet_deposit", "POST", `/api/v1/wallets/${wallet.id}/deposits/`, {
    body: deposit,
    token,
    idempotencyKey: crypto.randomUUID(),
  });
  if (paid.status === 402) {
    const error = paid.json as Answer<"wallet_deposit", 402>;
    const code: Schemas["ErrorCode"] = error.code;
    return code;
  }
  const payment = paid.json as Answer<"wallet_deposit", 201>;

  const address: JsonBody<"address_create"> = {
    full_name: "Mo Bile",
    line1: "1 App Street",
    city: "Berlin",
    postal_code: "10115",
    country: "DE",
  };
  const saved = (await call("address_create", "POST", "/api/v1/addresses/", { body: address, token }))
    .json as Answer<"address_create", 201>;

  const methods = (await call("shipping_method_list", "GET", "/api/v1/shipping-methods/?country=DE", { token }))
    .json as Answer<"shipping_method_list", 200>;
  const method = methods[0];
  if (!method) {
    return "shipping_unavailable";
  }
  const priced = (await call("cart_get", "GET", `/api/v1/cart/?shipping_method=${method.id}`, { token }))
    .json as Answer<"cart_get", 200>;
  const byCard: JsonBody<"order_place"> = {
    payment_method: "card",
    card_token: "tok_ok",
    shipping_address: saved.id,
    shipping_method: method.id,
    expected_total: { amount: priced.total.amount, currency: priced.total.currency },
  };
  const placed = await call("order_place", "POST", "/api/v1/orders/", {
    body: byCard,
    token,
    idempotencyKey: crypto.randomUUID(),
  });
  const order = placed.json as Answer<"order_place", 201> | Answer<"order_place", 202>;
  const detail = (await call("order_get", "GET", `/api/v1/orders/${order.number}/`, { token }))
    .json as Answer<"order_get", 200>;
  const firstLine = detail.lines[0];
  const invoiceUrl: string | undefined = detail.documents.find((document) => document.kind === "invoice")?.url;
  if (invoiceUrl) {
    const pdf = await fetch(BASE + invoiceUrl, { headers: { "X-Session-Token": token } });
    if (pdf.headers.get("Content-Type") !== "application/pdf") throw new Error("the invoice is not a PDF");
  }
  if (firstLine) {
    const ask: JsonBody<"order_return_request"> = { reason: "Too small", lines: [{ line: firstLine.id, quantity: 1 }] };
    await call("order_return_request", "POST", `/api/v1/orders/${order.number}/returns/`, { body: ask, token });
  }
  const withdraw: JsonBody<"wallet_withdraw"> = { amount: money("10.00"), card_token: "tok_ok" };
  await call("wallet_withdraw", "POST", `/api/v1/wallets/${wallet.id}/withdrawals/`, {
    body: withdraw,
    token,
    idempotencyKey: crypto.randomUUID(),
  });
  await call("auth_logout", "DELETE", "/_allauth/app/v1/auth/session", { token });
  return `${payment.status} ${subtotal} ${detail.status}`;
}

// The types are strict, not `any`: each line below must be a type error (tsc fails on an unused directive).
// @ts-expect-error money is an object {amount, currency}, never a bare number
export const moneyAsNumber: JsonBody<"wallet_deposit"> = { amount: 100, card_token: "tok_ok" };
// @ts-expect-error the payment method is an enum
export const unknownMethod: JsonBody<"order_place"> = { payment_method: "cash", shipping_address: 1 };
// @ts-expect-error an error code is one of ErrorCode
export const unknownCode: Schemas["ErrorCode"] = "no_such_code";
