// Lighthouse (pinned in package.json) on the storefront's main pages, mobile settings, with
// Debian's chromium; prints the scores as a Markdown table with what falls short.
// Usage: node audit.mjs http://127.0.0.1:8130   (make audit starts the demo server first)
import * as chromeLauncher from "chrome-launcher";
import lighthouse from "lighthouse";

const base = (process.argv[2] || "http://127.0.0.1:8130").replace(/\/$/, "");
const CATEGORIES = ["performance", "accessibility", "best-practices", "seo"];

async function productPath() {
  const res = await fetch(`${base}/api/v1/products/?ordering=-rating`);
  const body = await res.json();
  return `/p/${body.results[0].slug}/`;
}

async function categoryPath() {
  const res = await fetch(`${base}/api/v1/categories/`);
  const body = await res.json();
  const first = Array.isArray(body) ? body[0] : body.results[0];
  return `/c/${first.slug}/`;
}

function shortfalls(lhr) {
  const missed = new Set();
  for (const id of CATEGORIES) {
    for (const ref of lhr.categories[id].auditRefs) {
      const audit = lhr.audits[ref.id];
      if (ref.weight > 0 && audit.score !== null && audit.score < 0.9) missed.add(audit.title);
    }
  }
  return [...missed].join("; ") || "-";
}

const pages = [
  ["home", "/"],
  ["category", await categoryPath()],
  ["search", "/search/?q=headphones"],
  ["product", await productPath()],
  ["cart", "/cart/"],
  ["sign-in", "/accounts/login/"],
];

const chrome = await chromeLauncher.launch({
  chromePath: process.env.CHROME_PATH || "/usr/bin/chromium",
  chromeFlags: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const rows = [];
let failed = false;
try {
  for (const [name, path] of pages) {
    const result = await lighthouse(`${base}${path}`, {
      port: chrome.port,
      output: "json",
      logLevel: "error",
      onlyCategories: CATEGORIES,
    });
    const lhr = result.lhr;
    const score = (id) => (lhr.categories[id].score === null ? "(failed)" : Math.round(lhr.categories[id].score * 100));
    if (lhr.runtimeError) failed = true;
    rows.push(`| ${name} | ${CATEGORIES.map(score).join(" | ")} | ${shortfalls(lhr)} |`);
  }
} finally {
  await chrome.kill();
}
console.log("| page | performance | accessibility | best practices | SEO | what falls short |");
console.log("|---|---:|---:|---:|---:|---|");
for (const row of rows) console.log(row);
process.exit(failed ? 1 : 0);
