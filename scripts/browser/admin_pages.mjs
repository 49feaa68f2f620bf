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
// Chromium now and then drops a reload issued right after the previous navigation settled
// ("Not attached to an active page"); the page itself is fine, so try again.
async function reload(p) {
  for (let attempt = 1; ; attempt++) {
    try { return await p.reload(); } catch (e) {
      if (attempt >= 5 || !String(e).includes("Not attached")) throw e;
      await new Promise(r => setTimeout(r, 250));
    }
  }
}
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

// The provider's SCIM changes the policy steps make: a user, and a group's members.
async function scimUser(token, userName) {
  const r = await scim(token, "POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName, active: true });
  assert(r.status === 201, `create ${userName}: ${r.status}`);
  return r.body.id;
}
async function groupId(token, displayName) {
  const r = await scim(token, "GET", `/Groups?filter=${encodeURIComponent(`displayName eq "${displayName}"`)}`);
  assert(r.status === 200 && r.body.totalResults === 1, `find ${displayName}: ${r.status}`);
  return r.body.Resources[0].id;
}
async function patchMembers(token, group, operation) {
  const r = await scim(token, "PATCH", `/Groups/${group}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [operation] });
  assert(r.status === 200 || r.status === 204, `members ${operation.op}: ${r.status}`);
}
const addMembers = (token, group, ids) => patchMembers(token, group, { op: "add", path: "members", value: ids.map(value => ({ value })) });
const removeMember = (token, group, id) => patchMembers(token, group, { op: "remove", path: `members[value eq "${id}"]` });

// The operator's admin API (SEATFLOW_ADMIN_TOKEN, exported by scripts/browser.sh).
async function operator(method, path, body) {
  const r = await fetch(`${base}/api/v1${path}`, {
    method, headers: { authorization: `Bearer ${process.env.SEATFLOW_ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}
async function setupLink(license, body = {}) {
  const r = await operator("POST", `/licenses/${license}/setup-links`, body);
  assert(r.status === 201 && r.body.url.startsWith(`${base}/admin/setup/`), `issue: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}
async function linkStatus(license, id) {
  const r = await operator("GET", `/licenses/${license}/setup-links`);
  return r.body.find(l => l.id === id).status;
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
// The setup-link steps' license (the IT admin's), and a link issued now for the shortest time
// (a minute) that the last of those steps finds expired.
const setupLicense = (await operator("POST", "/licenses", { name: "Northwind", seats: 5 })).body.license_id;
const expiring = await setupLink(setupLicense, { ttl_minutes: 1 });

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
    await reload(page);
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
    await reload(page);
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

  await step("requests tab: the provider's requests, searchable, with what they caused", async () => {
    const users = await scim(token, "GET", `/Users?filter=${encodeURIComponent('userName eq "user1@contoso.example"')}`);
    const user1 = users.body.Resources[0].id;
    const r = await fetch(`${base}/scim/v2/Users/${user1}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json", "x-request-id": "browser-deactivate" },
      body: JSON.stringify({ schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", path: "active", value: false }] }),
    });
    assert(r.status === 200 || r.status === 204, `deactivate answered ${r.status}`);
    const bad = await scim(token, "PATCH", `/Users/${user1}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "bogus" }] });
    assert(bad.status === 400, `bad patch answered ${bad.status}`);
    await page.click("nav.tabs >> text=Requests");
    // Written in batches and the seats decided after the answer: wait for both.
    await waitFor(async () => {
      await page.goto(`${base}/admin/licenses/${licenseId}/requests?request_id=browser-deactivate`);
      return (await page.locator("#requests summary").count()) === 1
        && (await page.locator("#requests summary").textContent()).match(/[1-9]\d* seat decisions/);
    }, "the deactivation and its seat decisions");
    const rows = page.locator("#requests tbody tr");
    assert(await rows.count() === 1, "one request with that id");
    await page.click("#requests summary");
    const caused = await page.locator("#requests details").textContent();
    assert(caused.includes("user.deactivated") && caused.includes("released") && caused.includes("assigned"), `caused: ${caused}`);
    assert(!(await page.content()).includes("user1@contoso.example"), "no personal data in the log");
    await shot("10-requests-caused");
    await page.click("text=Show all");
    await page.fill("#req-status", "4xx");
    await page.click("form.search button[type=submit]");
    const failed = await rows.allTextContents();
    assert(failed.length === 1 && failed[0].includes("PATCH") && failed[0].includes("400"), `4xx: ${failed}`);
    await page.fill("#req-status", "");
    await page.fill("#req-path", 'filter=userName eq');
    await page.click("form.search button[type=submit]");
    const filtered = await rows.allTextContents();
    assert(filtered.length >= 2 && filtered.every(t => t.includes('filter=userName eq "…"')), `path: ${filtered}`);
    await page.fill("#req-path", "");
    await page.selectOption("#req-method", "POST");
    await page.click("form.search button[type=submit]");
    const posts = await rows.allTextContents();
    assert(posts.length === 7 && posts.every(t => t.includes("POST")), `POST: ${posts.length}`);
    for (const tab of ["requests", "events", "webhooks"]) {
      const other = await page.goto(`${base}/admin/licenses/${otherLicenseId}/${tab}`);
      assert(other.status() === 404, `another license's ${tab}: ${other.status()}`);
    }
    const refused = await page.goto(`${base}/admin/licenses/${licenseId}/requests?status=abc`);
    assert(refused.status() === 400, `bad status answered ${refused.status()}`);
    await page.getByRole("alert").waitFor();
  });

  await step("events tab: newest first, filtered by type", async () => {
    await page.goto(`${base}/admin/licenses/${licenseId}`);
    await page.click("nav.tabs >> text=Events");
    const rows = page.locator("#events tbody tr");
    await rows.first().waitFor();
    const seqs = await rows.evaluateAll(trs => trs.map(tr => Number(tr.dataset.sequence)));
    assert(seqs.length > 5 && seqs.every((s, i) => i === 0 || seqs[i - 1] > s), `newest first: ${seqs}`);
    await shot("11-events");
    await page.selectOption("#event-type", "seat.*");
    await page.click("form.search button[type=submit]");
    const types = await page.locator("#events tbody tr td:nth-child(2)").allTextContents();
    assert(types.length >= 4 && types.every(t => t.startsWith("seat.")), `seat events: ${types}`);
    await page.selectOption("#event-type", "user.deactivated");
    await page.click("form.search button[type=submit]");
    assert(await rows.count() === 1, "one deactivation");
    await page.click("#events tbody a");
    await page.waitForURL("**/requests?request_id=browser-deactivate");
  });

  await step("the overview warns when the provider's requests fail often", async () => {
    await page.goto(`${base}/admin/licenses/${licenseId}`);
    assert(await page.locator("#error-rate-warning").count() === 0, "no warning yet");
    const users = await scim(token, "GET", "/Users?count=1");
    const id = users.body.Resources[0].id;
    for (let i = 0; i < 20; i++) {
      const r = await scim(token, "PATCH", `/Users/${id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "bogus" }] });
      assert(r.status === 400, `bad patch ${r.status}`);
    }
    await waitFor(async () => { await reload(page); return (await page.locator("#error-rate-warning").count()) === 1; }, "the error-rate warning");
    await shot("12-overview-error-rate");
    await page.click("#error-rate-warning >> text=See the failed requests");
    assert((await page.locator("#requests tbody tr").count()) >= 21, "the failed requests are listed");
  });

  await step("webhooks tab: create, deliver, log, redeliver, disable, rotate, resume, delete", async () => {
    const { createServer } = await import("node:http");
    let answer = 204;
    const received = [];
    const receiver = createServer((req, res) => {
      let body = "";
      req.on("data", d => body += d).on("end", () => {
        received.push({ id: req.headers["webhook-id"], signature: req.headers["webhook-signature"], body });
        res.writeHead(answer).end();
      });
    });
    await new Promise(r => receiver.listen(0, "127.0.0.1", r));
    const hook = `http://127.0.0.1:${receiver.address().port}/hook`;
    page.on("dialog", d => d.accept());
    try {
      await page.click("nav.tabs >> text=Webhooks");
      await page.fill("#webhook-url", hook);
      await page.fill("#webhook-types", "user.*");
      await page.click("text=Add webhook");
      const secret = page.locator("#webhook-secret");
      await secret.waitFor();
      assert((await secret.inputValue()).startsWith("whsec_"), "a Standard Webhooks secret");
      await shot("13-webhook-created");
      await reload(page);
      assert(await page.locator("#webhook-secret").count() === 0, "the secret is shown only once");
      const row = page.locator("#webhooks tbody tr");
      assert(await row.count() === 1 && (await row.textContent()).includes("active"), "listed as active");

      const created = await scim(token, "POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "hooked@contoso.example" });
      assert(created.status === 201, `create ${created.status}`);
      await waitFor(async () => received.length >= 1, "the delivery");
      assert(JSON.parse(received[0].body).type === "user.created" && received[0].signature.startsWith("v1,"), "a signed user.created");
      await waitFor(async () => { await reload(page); return (await row.textContent()).includes("up to date"); }, "the cursor to catch up");

      await page.click("text=Delivery log");
      const log = page.locator("#deliveries tbody tr");
      assert(await log.count() === 1 && (await log.textContent()).includes("204"), "the delivery is logged");
      await page.click("#deliveries button[type=submit]");
      await page.getByText("Sent again").waitFor();
      assert(await log.count() === 2 && (await log.first().textContent()).includes("manual"), "the redelivery is logged");
      assert(received.length === 2 && received[1].id === received[0].id, "the same event again, same webhook-id");
      await shot("14-webhook-log");

      await page.click("text=All webhooks");
      await page.click("#webhooks button:text('Disable')");
      await page.locator("#webhooks .pill.disabled").waitFor();
      await page.click("#webhooks button:text('Enable')");
      await page.locator("#webhooks .pill.active").waitFor();
      await page.click("#webhooks button:text('Rotate secret')");
      await page.locator("#webhook-secret").waitFor();

      answer = 500;
      await scim(token, "POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "failing@contoso.example" });
      await waitFor(async () => { await reload(page); return (await row.textContent()).includes("retrying"); }, "the endpoint retrying");
      assert((await row.textContent()).includes("500"), `last error shown: ${await row.textContent()}`);
      assert(await row.locator("td.behind").getAttribute("data-events") === "1", `one event behind: ${await row.textContent()}`);
      await shot("15-webhook-retrying");
      answer = 204;
      await page.click("#webhooks button:text('Resume')");
      await waitFor(async () => { await reload(page); return (await row.textContent()).includes("up to date"); }, "delivery after resume");
      await page.click("#webhooks button:text('Delete')");
      await page.getByText("No webhook yet.").waitFor();
    } finally {
      receiver.close();
    }
  });

  // Licensing policies. Contoso has 3 seats (user2-4 hold them, user5 waits) and Sales licensed.
  const policiesUrl = `${base}/admin/licenses/${licenseId}/policies`;
  const applyPolicies = async () => {
    await page.click("#apply");
    await page.waitForURL("**/policies?notice=saved");
    await page.locator("#policy-notice").waitFor();
  };
  // The waiting line on the seats tab: each row's cells (userName, status, priority, position…).
  const waitingLine = async () => {
    await page.goto(`${base}/admin/licenses/${licenseId}/seats?status=blocked`);
    return page.locator("#seats tbody tr").evaluateAll(trs => trs.map(tr => [...tr.cells].map(td => td.textContent.trim())));
  };
  let sales;
  await step("policies tab: group priorities reorder the waiting line in the preview, then apply", async () => {
    sales = await groupId(token, "Sales");
    const engineers = [await scimUser(token, "eng1@contoso.example"), await scimUser(token, "eng2@contoso.example")];
    await addMembers(token, await groupId(token, "Engineering"), engineers);
    await page.goto(`${base}/admin/licenses/${licenseId}/groups`);
    await page.click("button[aria-label='Select Engineering…']");
    assert(await page.locator("#impact-summary").textContent() === "assigns 0, blocks 2, releases 0", "both engineers wait");
    await page.click("#confirm");
    await page.waitForURL("**?notice=groups");
    await waitFor(async () => (await waitingLine()).length === 3, "user5 and the engineers waiting");

    await page.click("nav.tabs >> text=Policies");
    await page.fill("input[aria-label='Priority of Engineering']", "10");
    await page.fill("input[aria-label='Priority of Sales']", "5");
    await page.click("#preview");
    await page.locator("#policy-preview").waitFor();
    const next = await page.locator("#next-in-line li").allTextContents();
    assert(next.length === 3 && next[0].startsWith("eng") && next[1].startsWith("eng") && next[2] === "user5@contoso.example",
      `next in line: ${next}`);
    const moved = await page.locator("#preview-moved").textContent();
    assert(moved.startsWith("3 waiting user(s) change place"), `moved: ${moved}`);
    assert(await page.locator("#preview-summary").textContent() === "assigns 0, blocks 0, releases 0, 0 in grace", "nobody gains or loses a seat");
    assert(await page.inputValue("input[aria-label='Priority of Engineering']") === "10", "the preview keeps what was typed");
    await shot("21-policies-preview");
    await applyPolicies();
    assert(await page.inputValue("input[aria-label='Priority of Sales']") === "5", "saved");
    await waitFor(async () => (await waitingLine())[0]?.[0].startsWith("eng"), "an engineer first in line");
    const line = await waitingLine();
    assert(line.map(cells => `${cells[2]}:${cells[3]}`).join(" ") === "10:1 10:2 5:3", `priorities and positions: ${line}`);
    await shot("22-seats-priority");
  });

  await step("policies tab: what the store refuses, or a bad line, shows on the page; nothing is saved", async () => {
    await page.goto(policiesUrl);
    await page.check("#overflow-expand");
    await page.fill("#expand-cap", "2");
    const [refused] = await Promise.all([page.waitForResponse("**/policies/preview"), page.click("#preview")]);
    assert(refused.status() === 400, `refused with ${refused.status()}`);
    const error = await page.locator("#policy-error").textContent();
    assert(error.includes("expand_cap (2) must be at least the license's seats (3)"), `error: ${error}`);
    assert(await page.isChecked("#overflow-expand"), "the form keeps what was typed");
    await shot("23-policies-refused");
    await page.fill("#expand-cap", "");
    await page.check("#overflow-block");
    await page.fill("#reserved-groups", "Engineering");
    await page.click("#apply");
    assert((await page.locator("#policy-error").textContent()).includes("group name or id: seats"), "a line without seats");
    await page.fill("#reserved-users", "user5@contoso.example");
    await page.fill("#reserved-groups", "Engineering: 1");
    await page.click("#preview");
    await page.locator("#policy-preview").waitFor();
    assert(await page.inputValue("#reserved-groups") === "Engineering: 1", "the reservation is kept for apply");
    await page.click("text=Discard changes");
    assert(await page.inputValue("#reserved-users") === "" && await page.isChecked("#overflow-block"), "nothing was saved");
  });

  await step("overflow expand with a cap: seats grow as users overflow, the pending true-up is settled", async () => {
    await page.check("#overflow-expand");
    await page.fill("#expand-cap", "8");
    await page.click("#preview");
    assert((await page.locator("#preview-seats").textContent()).startsWith("Seats: 3 → 6"), "the three waiting users get seats");
    await applyPolicies();
    await waitFor(async () => { await reload(page); return (await page.locator("#pending-seats").count()) === 1; }, "the first expansion");
    assert(await page.locator("#pending-seats").textContent() === "3", "3 seats pending");
    await addMembers(token, sales, [await scimUser(token, "user6@contoso.example")]);
    await waitFor(async () => { await reload(page); return (await page.locator("#expansions tbody tr").count()) === 2; }, "the second expansion");
    assert(await page.locator("#pending-seats").textContent() === "4", "4 seats pending");
    const rows = await page.locator("#expansions tbody tr").allTextContents();
    assert(rows[0].includes("3 → 6") && rows[1].includes("6 → 7"), `expansions: ${rows}`);
    await shot("24-policies-true-up");
    await page.click("nav.tabs >> text=Overview");
    assert(await page.locator("#seats-used").textContent() === "7" && await page.locator("#blocked-count").textContent() === "0", "everyone holds a seat");
    await page.click("nav.tabs >> text=Policies");
    // The confirmation is accepted by the dialog handler the webhooks step installed.
    await page.click("#settle");
    await page.waitForURL("**/policies?notice=settled");
    await page.locator("#no-true-up").waitFor();
  });

  await step("overflow notify: the license pages show a banner while users wait", async () => {
    await page.check("#overflow-notify");
    await applyPolicies();
    await page.click("nav.tabs >> text=Overview");
    assert(await page.locator("#overflow-banner").count() === 0, "nobody waits yet");
    await addMembers(token, sales, [await scimUser(token, "user7@contoso.example")]);
    const banner = page.locator("#overflow-banner");
    await waitFor(async () => { await reload(page); return (await banner.count()) === 1; }, "the overflow banner");
    const text = await banner.textContent();
    assert(text.includes("Seats are full: 1 user is waiting") && text.includes("Overflow policy: notify."), `banner: ${text}`);
    await shot("25-overview-overflow-banner");
    await page.click("nav.tabs >> text=Audit");
    assert(await banner.count() === 1, "on the other tabs too");
    await page.click("#overflow-banner >> text=See who waits");
    const waiting = await page.locator("#seats tbody tr").allTextContents();
    assert(waiting.length === 1 && waiting[0].includes("user7@contoso.example"), `waiting: ${waiting}`);
  });

  await step("grace period: a user removed from the licensed group keeps the seat, shown in grace", async () => {
    await page.goto(policiesUrl);
    await page.fill("#grace-minutes", "60");
    await applyPolicies();
    const users = await scim(token, "GET", `/Users?filter=${encodeURIComponent('userName eq "user2@contoso.example"')}`);
    await removeMember(token, sales, users.body.Resources[0].id);
    const row = page.locator("#seats tbody tr", { hasText: "user2@contoso.example" });
    await waitFor(async () => {
      await page.goto(`${base}/admin/licenses/${licenseId}/seats?status=assigned`);
      return (await row.getAttribute("data-grace")) === "true";
    }, "user2's seat in grace");
    const text = await row.textContent();
    assert(/assigned — in grace until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/.test(text), `row: ${text}`);
    await shot("26-seats-in-grace");
    await page.click("nav.tabs >> text=Overview");
    assert(await page.locator("#in-grace-count").textContent() === "1", "the overview counts it");
    assert(await page.locator("#assigned-count").textContent() === "7", "the seat is still used");
    assert(await page.locator("#overflow-banner").count() === 1, "user7 still waits");
  });

  // The customer's IT admin, with no account or key: a browser of their own.
  const itAdmin = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  await itAdmin.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const it = await itAdmin.newPage();
  const itShot = (name) => it.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  let link;
  await step("setup link: the operator issues it, the landing page spends nothing", async () => {
    link = await setupLink(setupLicense);
    const r = await it.goto(link.url);
    assert(r.status() === 200 && r.headers()["referrer-policy"] === "no-referrer", `landing ${r.status()}`);
    await it.getByRole("heading", { name: "Set up provisioning for Northwind" }).waitFor();
    assert(await linkStatus(setupLicense, link.id) === "active", "still active after the GET");
    await itShot("16-setup-link-landing");
  });

  await step("setup link: opens the license's setup page with the Tenant URL and the checklist", async () => {
    await it.click("text=Open the setup pages");
    await it.waitForURL(`**/admin/licenses/${setupLicense}/provisioning`);
    assert(await linkStatus(setupLicense, link.id) === "used", "used once opened");
    assert(await it.locator("#tenant-url").inputValue() === `${base}/scim/v2`, "the Tenant URL");
    await it.locator("#entra-steps").waitFor();
    await it.locator("#okta-steps summary").click();
    await it.getByText("Test API Credentials").waitFor();
    await it.getByRole("heading", { name: "Setup checklist" }).waitFor();
    await it.click("button[data-copy-target=tenant-url]");
    await waitFor(async () => (await it.locator("[data-step=tenant-url]").getAttribute("class")).includes("done"), "the Tenant URL tick");
  });

  await step("setup link: the IT admin generates the Secret Token; the checklist follows live", async () => {
    await it.click("text=Rotate: issue a second token");
    const secret = it.locator("#secret-token");
    await secret.waitFor();
    const itToken = await secret.inputValue();
    await itShot("17-setup-link-token");
    const probe = it.locator("[data-step=test-connection]");
    assert(!(await probe.getAttribute("class")).includes("done"), "no Test Connection yet");
    // Entra's Test Connection: a filter on a userName nobody has.
    const r = await scim(itToken, "GET", `/Users?filter=${encodeURIComponent(`userName eq "${randomUUID()}"`)}`);
    assert(r.status === 200, `probe with the new token: ${r.status}`);
    await waitFor(async () => (await probe.getAttribute("class")).includes("done"), "the Test Connection tick");
    await itShot("18-setup-link-checklist");
  });

  await step("setup link: that license only", async () => {
    for (const other of [licenseId, otherLicenseId]) {
      const r = await it.goto(`${base}/admin/licenses/${other}/provisioning`);
      assert(r.status() === 404, `another license: ${r.status()}`);
    }
  });

  await step("setup link: used, revoked and expired links show their error pages", async () => {
    const again = await it.goto(link.url);
    assert(again.status() === 410, `used: ${again.status()}`);
    await it.getByRole("alert").getByText("already been used").waitFor();
    await itShot("19-setup-link-used");

    const revoked = await setupLink(setupLicense);
    const r = await operator("DELETE", `/licenses/${setupLicense}/setup-links/${revoked.id}`);
    assert(r.status === 204, `revoke ${r.status}`);
    const gone = await it.goto(revoked.url);
    assert(gone.status() === 410, `revoked: ${gone.status()}`);
    await it.getByRole("alert").getByText("has been revoked").waitFor();

    // Issued a minute before the first step: wait out what is left of it.
    const left = Date.parse(expiring.expires_at) - Date.now();
    if (left > 0) await new Promise(r => setTimeout(r, left + 500));
    const expired = await it.goto(expiring.url);
    assert(expired.status() === 410, `expired: ${expired.status()}`);
    await it.getByRole("alert").getByText("has expired").waitFor();
    await itShot("20-setup-link-expired");
    const unknown = await it.goto(`${base}/admin/setup/not-a-link`);
    assert(unknown.status() === 404, `unknown: ${unknown.status()}`);
  });

  await step("setup link: revoking the used link ends its session", async () => {
    const r = await operator("DELETE", `/licenses/${setupLicense}/setup-links/${link.id}`);
    assert(r.status === 204, `revoke ${r.status}`);
    await it.goto(`${base}/admin/licenses/${setupLicense}/provisioning`);
    assert(it.url().endsWith("/admin/login"), `at ${it.url()}`);
    await itAdmin.close();
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
