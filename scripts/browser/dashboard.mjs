// Drives the dashboard in headless Chromium (Debian's package) for tests/tests/dashboard.rs:
// signs in with the operator token, waits for the live panels, saves a screenshot, reads what
// the panels show, replays the first dead letter with its button, and prints JSON on stdout.
//
// usage: node dashboard.mjs BASE_URL TOKEN SCREENSHOT_PATH
import { chromium } from "playwright-core";

const [baseUrl, token, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error("usage: node dashboard.mjs BASE_URL TOKEN SCREENSHOT_PATH");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";

// launch() gives the browser a fresh, temporary profile of its own.
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${baseUrl}/dashboard`);
  await page.getByLabel("Operator token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForSelector("#licenses tr[data-license]", { timeout: 15000 });
  // Wait for a sample (rates and queue depths are filled from the sampler's readings).
  await page.waitForFunction(
    () => document.querySelector('[data-metric="queue-work"]').textContent !== "–",
    null, { timeout: 15000 });
  await page.screenshot({ path: screenshot, fullPage: true });

  const shown = await page.evaluate(() => ({
    metrics: Object.fromEntries([...document.querySelectorAll("[data-metric]")]
      .map((n) => [n.dataset.metric, n.textContent.trim()])),
    licenses: [...document.querySelectorAll("#licenses tr[data-license]")].map((row) => ({
      id: row.dataset.license,
      seats: row.querySelector('[data-field="seats"]').textContent,
      blocked: row.querySelector('[data-field="blocked"]').textContent,
      pending: row.querySelector('[data-field="pending"]').textContent,
      last_scim: row.querySelector('[data-field="last-scim"]').textContent,
    })),
    dead_letters: [...document.querySelectorAll("#dead-letters tr[data-dead-letter]")]
      .map((row) => row.dataset.deadLetter),
    charts: document.querySelectorAll("[data-chart] svg polyline").length,
  }));

  let replayed = null;
  if (shown.dead_letters.length > 0) {
    replayed = shown.dead_letters[0];
    await page.getByRole("button", { name: `Replay event ${replayed}` }).click();
    await page.waitForSelector(`#dead-letters tr[data-dead-letter="${replayed}"]`,
      { state: "detached", timeout: 15000 });
  }
  console.log(JSON.stringify({ ...shown, replayed, errors }));
} finally {
  await browser.close();
}
