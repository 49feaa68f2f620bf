// End-to-end test of the license admin pages in a real browser (Debian's chromium, driven over
// CDP by playwright-core). Expects a running seatflow-api at SEATFLOW_URL with the licenses and
// admin keys created by scripts/browser.sh. Screenshots go to test-output/browser/.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { randomUUID } from "node:crypto";

const base = process.env.SEATFLOW_URL;
const key = process.env.SEATFLOW_ADMIN_KEY;
const licenseId = process.env.SEATFLOW_LICENSE_ID;
const otherLicenseId = process.env.SEATFLOW_OTHER_LICENSE_ID;
const shots = process.env.SEATFLOW_SCREENSHOTS || "test-output/browser";
mkdirSync(shots, { recursive: true });

let passed = 0, failed = 0;
async function step(name, fn) {
  try { await fn(); passed++; console.log(`PASS ${name}`); }
  catch (e) { failed++; console.log(`FAIL ${name}: ${e.stack || e}`); throw e; }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }
async function waitFor(fn, what, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise(r => setTimeout(r, 250));
  }
}
async function scim(token, method, path, body) {
  const r = await fetch(`${base}/scim/v2${path}`, {
    method, headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  headless: true,
});
const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
const page = await context.newPage();
const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
let token;

try {
  await step("signed out, the pages send you to sign in", async () => {
    await page.goto(`${base}/admin/licenses/${licenseId}`);
    assert(page.url().endsWith("/admin/login"), `at ${page.url()}`);
  });

  await step("a wrong key is refused", async () => {
    await page.fill("#key", "not-a-key");
    await page.click("button[type=submit]");
    await page.getByRole("alert").waitFor();
  });

  await step("sign in with the license admin key", async () => {
    await page.fill("#key", key);
    await shot("01-sign-in");
    await page.click("button[type=submit]");
    await page.waitForURL(`**/admin/licenses/${licenseId}`);
    const cookies = await context.cookies();
    const session = cookies.find(c => c.name === "seatflow_admin");
    assert(session && session.httpOnly && session.sameSite === "Strict", "session cookie attributes");
    await page.getByRole("heading", { name: "Setup checklist" }).waitFor();
    await shot("02-overview-new");
  });

  await step("another license is not found for this admin", async () => {
    const r = await page.goto(`${base}/admin/licenses/${otherLicenseId}/seats`);
    assert(r.status() === 404, `status ${r.status()}`);
    await page.goto(`${base}/admin/licenses/${licenseId}`);
  });

  await step("copy the Tenant URL, issue a token and copy it", async () => {
    await page.click("nav.tabs >> text=Automatic provisioning");
    await page.click("button[data-copy-target=tenant-url]");
    const tenant = await page.evaluate(() => navigator.clipboard.readText());
    assert(tenant === `${base}/scim/v2`, `clipboard has ${tenant}`);
    await page.click("text=Rotate: issue a second token");
    const secret = page.locator("#secret-token");
    await secret.waitFor();
    await page.click("button[data-copy-target=secret-token]");
    token = await page.evaluate(() => navigator.clipboard.readText());
    assert(token && token === await secret.inputValue(), "the copied token is the one shown");
    await page.getByText("Copied").last().waitFor();
    await shot("03-provisioning-token");
    await page.reload();
    assert(await page.locator("#secret-token").count() === 0, "the secret is shown only once");
  });

  await step("Test Connection ticks after a SCIM probe", async () => {
    await page.click("nav.tabs >> text=Overview");
    const probe = page.locator("[data-step=test-connection]");
    assert(!(await probe.getAttribute("class")).includes("done"), "not yet done");
    assert((await page.locator("[data-step=tenant-url]").getAttribute("class")).includes("done"), "tenant URL copy ticked");
    const r = await scim(token, "GET", `/Users?filter=${encodeURIComponent(`userName eq "${randomUUID()}"`)}`);
    assert(r.status === 200 && r.body.totalResults === 0, `probe answered ${r.status}`);
    await waitFor(async () => (await probe.getAttribute("class")).includes("done"), "the Test Connection tick");
    await shot("04-checklist-test-connection");
  });

  await step("the provider syncs users and a group; the checklist follows", async () => {
    const ids = [];
    for (let i = 1; i <= 5; i++) {
      const r = await scim(token, "POST", "/Users", {
        schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
        userName: `user${i}@contoso.example`, active: true, displayName: `User ${i}`,
      });
      assert(r.status === 201, `user create ${r.status}`);
      ids.push(r.body.id);
    }
    const g = await scim(token, "POST", "/Groups", {
      schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"],
      displayName: "Sales", members: ids.map(value => ({ value })),
    });
    assert(g.status === 201, `group create ${g.status}`);
    await scim(token, "POST", "/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "Engineering" });
    await waitFor(async () => (await page.locator("[data-step=groups]").getAttribute("class")).includes("done"), "the groups tick");
    assert((await page.locator("[data-step=first-user]").getAttribute("class")).includes("done"), "first user ticked");
  });

  await step("select a group after a dry run", async () => {
    await page.click("nav.tabs >> text=Licensed groups");
    await page.fill("#group-search", "sal");
    await page.click("form.search button");
    assert(await page.locator("#groups tbody tr").count() === 1, "search narrows to Sales");
    await shot("05-groups");
    await page.click("button[aria-label='Select Sales…']");
    const summary = page.locator("#impact-summary");
    await summary.waitFor();
    const text = await summary.textContent();
    assert(text === "assigns 3, blocks 2, releases 0", `impact: ${text}`);
    await shot("06-group-dry-run");
    await page.click("#confirm");
    await page.waitForURL(`**/admin/licenses/${licenseId}?notice=groups`);
  });

  await step("seats assigned", async () => {
    const seatsStep = page.locator("[data-step=seats]");
    await waitFor(async () => (await seatsStep.getAttribute("class")).includes("done"), "the seats tick");
    await page.reload();
    assert((await page.locator("#assigned-count").textContent()) === "3", "3 assigned");
    assert((await page.locator("#licensed-groups").textContent()).includes("Sales"), "Sales is listed");
    await shot("07-overview-seats");
  });

  await step("seats page: blocked users with reason and queue position, CSV export", async () => {
    await page.click("nav.tabs >> text=Seats");
    await page.selectOption("#seat-status", "blocked");
    await page.click("form.search button[type=submit]");
    const rows = page.locator("#seats tbody tr");
    assert(await rows.count() === 2, "2 waiting");
    const first = await rows.first().textContent();
    assert(first.includes("no seats available") && first.includes("1"), `first row: ${first}`);
    await shot("08-seats-blocked");
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("text=Export CSV")]);
    const path = `${shots}/seats.csv`;
    await download.saveAs(path);
    const { readFileSync } = await import("node:fs");
    const csv = readFileSync(path, "utf8").trim().split("\n");
    assert(csv.length === 3 && csv[0].startsWith("user_id,user_name,status"), `csv: ${csv}`);
  });

  await step("audit timeline, filterable by user", async () => {
    await page.click("nav.tabs >> text=Audit");
    await page.locator("#audit li").first().waitFor();
    assert(await page.locator("#audit").getByText("licensed groups set").count() >= 1, "admin action shown");
    await shot("09-audit");
    await page.fill("#audit-user", "user4@contoso.example");
    await page.click("form.search button[type=submit]");
    const items = await page.locator("#audit li").allTextContents();
    assert(items.length >= 1 && items.every(t => t.includes("user4@contoso.example")), `filtered: ${items}`);
  });

  await step("sign out ends the session", async () => {
    await page.click("text=Sign out");
    await page.waitForURL("**/admin/login");
    await page.goto(`${base}/admin/licenses/${licenseId}`);
    assert(page.url().endsWith("/admin/login"), "signed out");
  });
} catch (e) {
  await shot("failure").catch(() => {});
} finally {
  await browser.close();
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
