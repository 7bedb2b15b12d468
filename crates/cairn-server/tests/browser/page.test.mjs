// The web page end to end in headless Chromium: a question streams in, a citation opens
// and highlights exactly its node's text in the document, the trace shows each stage's
// cost, the graph view draws the path, Chinese works, feedback is recorded, and a hostile
// HTML document's markup never runs. Screenshots go to the artefact folder.
//
// A PDF citation opens its page, rendered by pdf.js, with the cited lines boxed: each box
// sits on the line the test drew (PDF_JSON gives the drawn lines), on the position pdf.js
// itself reports for that text, and on inked pixels of the rendered page.
//
// node page.test.mjs BASE_URL API_KEY ARTEFACT_DIR PDF_JSON
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";

const [base, key, out, pdfJson] = process.argv.slice(2);
const drawnPdf = JSON.parse(pdfJson);
mkdirSync(out, { recursive: true });
const auth = { authorization: `Bearer ${key}` };
const json = async (path) => (await fetch(base + path, { headers: auth })).json();
const shot = async (page, name) => { await page.screenshot({ path: `${out}/${name}.png` }); console.log(`screenshot ${out}/${name}.png`); };
// The highlighted node is scrolled into the document panel's view.
const markInView = (page) => page.locator("#doc-body mark.hl").evaluate((m) => {
  const box = document.getElementById("doc").getBoundingClientRect(), r = m.getBoundingClientRect();
  return r.top >= box.top - 1 && r.top < Math.min(box.bottom, window.innerHeight);
});

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale: "en-US" });
  const dialogs = [], errors = [];
  page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
  page.on("pageerror", (e) => errors.push(String(e)));
  // The browser's console, printed when a step fails.
  const consoleLines = [];
  page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  process.on("exit", (code) => { if (code !== 0) console.error("browser console:\n" + consoleLines.join("\n")); });
  // The hostile document's payloads push here if any of them ever runs.
  await page.addInitScript(() => { window.__pwned = []; });
  await page.goto(`${base}/`);
  await page.evaluate((k) => localStorage.setItem("cairn-key", k), key);
  await page.waitForSelector("body[data-ready=true]");
  await shot(page, "01-page");

  // 1. Ask: the navigation streams in level by level, then the cited answer.
  await page.fill("#q", "Can simvastatin be taken with clarithromycin?");
  await page.click("#go");
  await page.waitForSelector("#answer .cite");
  const levels = await page.locator("#progress li").count();
  assert.ok(levels >= 3, `streamed progress lines: ${levels}`);
  assert.match(await page.locator("#answer").innerText(), /contraindicated/);
  // The page says what wrote the answer: here no model (the lexical pipeline).
  assert.match(await page.locator("#answer .by").innerText(), /no language model/);
  await shot(page, "02-answer");

  // 2. Each citation highlights exactly its node's text, inside its document.
  const cites = page.locator("#answer .cite");
  const n = await cites.count();
  assert.ok(n >= 1);
  for (let i = 0; i < n; i++) {
    const cite = cites.nth(i);
    const id = await cite.getAttribute("data-id");
    await cite.click();
    await page.waitForSelector(`#doc-body mark.hl[data-id="${id}"]`);
    const node = await json(`/v1/kbs/demo/nodes/${encodeURIComponent(id)}`);
    const marks = await page.locator("#doc-body mark.hl").allTextContents();
    assert.deepEqual(marks, [node.text], `citation ${id}`);
    const para = await page.locator("#doc-body mark.hl").evaluate((m) => m.closest("p").dataset.id);
    assert.equal(para, id.split(".")[0]);
    assert.ok(await markInView(page), `citation ${id} is scrolled into view`);
    // The document around it is there too: other paragraphs and the section headings.
    assert.ok(await page.locator("#doc-body p.para").count() > 10);
    assert.equal(await cite.getAttribute("aria-pressed"), "true");
  }
  await shot(page, "03-citation");

  // 3. The trace shows a row per navigation level with its cost, and the scratchpad.
  await page.click("#trace-label");
  const rows = await page.locator("#stages tr").count();
  assert.ok(rows >= levels, `stage rows ${rows}`);
  assert.match(await page.locator("#stages").innerText(), /lexical/);

  // 4. The graph view draws the path the answer used; an edge opens its citation.
  const edges = page.locator("#graph g.edge");
  assert.ok(await edges.count() >= 1, "graph edges");
  await page.click("#graph-label");
  const edge = page.locator("#graph g.edge[data-id]").first();
  const edgeId = await edge.getAttribute("data-id");
  await edge.click();
  await page.waitForSelector(`#doc-body mark.hl[data-id="${edgeId}"]`);
  const edgeNode = await json(`/v1/kbs/demo/nodes/${encodeURIComponent(edgeId)}`);
  assert.deepEqual(await page.locator("#doc-body mark.hl").allTextContents(), [edgeNode.text]);
  assert.ok(await markInView(page), "the edge's citation is scrolled into view");
  await shot(page, "04-graph");

  // 5. Feedback is recorded.
  await page.click("#up");
  await page.waitForFunction(() => /Thanks/.test(document.getElementById("status").textContent));

  // 6. Chinese: the interface and a Chinese question.
  await page.click("#lang");
  assert.equal(await page.locator("#go").innerText(), "提问");
  await page.fill("#q", "华法林与氟康唑合用有什么风险？");
  await page.click("#go");
  await page.waitForSelector("#answer .cite");
  await page.locator("#answer .cite").first().click();
  await page.waitForSelector("#doc-body mark.hl");
  assert.match(await page.locator("#answer .by").innerText(), /未使用语言模型/);
  await shot(page, "05-chinese");
  await page.click("#lang");

  // 7. Upload a document from the page, find it in the list, and get answers cited from it.
  await page.click("#docs-label");
  await page.waitForSelector("#doc-list li");
  const before = await page.locator("#doc-list li").count();
  await page.setInputFiles("#file", { name: "tenancy.md", mimeType: "text/markdown",
    buffer: Buffer.from("# Tenancy rules\n\n## 1. Deposits\n\nA deposit is returned within 30 days of the end of the lease.\n") });
  await page.click("#add");
  await page.waitForFunction(() => /Stored tenancy/.test(document.getElementById("upload-status").textContent));
  await page.waitForFunction((n) => document.querySelectorAll("#doc-list li").length === n + 1, before);
  await page.click('#doc-list button[data-key="tenancy"]');
  await page.waitForFunction(() => document.getElementById("doc-title").textContent === "Tenancy rules");
  assert.match(await page.locator("#doc-body").innerText(), /returned within 30 days/);
  await page.fill("#q", "When is a deposit returned?");
  await page.click("#go");
  await page.waitForSelector('#answer .cite');
  assert.match(await page.locator("#answer").innerText(), /30 days/);
  assert.match(await page.locator("#answer .cite").first().innerText(), /^tenancy:/);
  await shot(page, "07-upload");

  // 7b. The same in the background: a durable job, which the page follows to the end.
  const jobPolls = [];
  page.on("request", (r) => { if (/\/jobs\/\d+$/.test(r.url())) jobPolls.push(r.url()); });
  await page.check("#bg");
  await page.setInputFiles("#file", { name: "parking.md", mimeType: "text/markdown",
    buffer: Buffer.from("# Parking rules\n\n## 1. Permits\n\nA resident permit costs 40 euros a year.\n") });
  await page.click("#add");
  await page.waitForFunction(() => /Stored parking/.test(document.getElementById("upload-status").textContent));
  await page.waitForFunction((n) => document.querySelectorAll("#doc-list li").length === n + 2, before);
  assert.ok(jobPolls.length >= 1, "the page followed the job");
  await page.uncheck("#bg");
  await shot(page, "07b-job");

  // 8. A hostile HTML document: its markup shows as text and never runs.
  await page.fill("#q", "How often is the INR checked with zorbitrex?");
  await page.click("#go");
  await page.waitForSelector("#answer .cite");
  await page.locator("#answer .cite").first().click();
  await page.waitForSelector("#doc-body mark.hl");
  const docText = await page.locator("#doc-body").innerText();
  assert.match(docText, /<img src=x onerror=/, "the markup is shown as text");
  assert.equal(await page.locator("#doc-body img, #answer img, #doc-body script, #answer script, iframe").count(), 0);
  await page.waitForTimeout(300);
  assert.deepEqual(await page.evaluate(() => window.__pwned), [], "no hostile payload ran");
  await shot(page, "06-hostile");

  // 9. A PDF citation opens the page with the cited lines highlighted.
  await page.fill("#q", drawnPdf.question);
  await page.click("#go");
  await page.waitForSelector("#answer .cite");
  const pdfCite = page.locator(`#answer .cite`).filter({ hasText: new RegExp(`^${drawnPdf.key}:`) }).first();
  const pdfId = await pdfCite.getAttribute("data-id");
  await pdfCite.click();
  await page.waitForSelector(`#page-view[data-rendered="${pdfId}"] .pdf-hl`).catch(async (e) => {
    throw new Error(`${e.message}\nstatus: ${await page.locator("#status").innerText()}`);
  });
  const cited = await json(`/v1/kbs/demo/nodes/${encodeURIComponent(pdfId)}`);
  const expected = drawnPdf.lines.filter((l) => cited.text.includes(l.text));
  assert.ok(expected.length >= 1, `the cited text ${JSON.stringify(cited.text)} is among the drawn lines`);
  const geometry = await page.evaluate(async ({ expected, drawn }) => {
    const box = document.querySelector("#page-view .pdf-page"), canvas = box.querySelector("canvas");
    const origin = canvas.getBoundingClientRect(), scale = origin.width / drawn.width;
    const hls = [...box.querySelectorAll(".pdf-hl")].map((h) => {
      const r = h.getBoundingClientRect();
      return { left: r.left - origin.left, top: r.top - origin.top, width: r.width, height: r.height };
    });
    // Ink: the share of dark pixels of the rendered page under each box.
    const ctx = canvas.getContext("2d"), k = canvas.width / origin.width;
    const ink = hls.map((h) => {
      const px = ctx.getImageData(Math.round(h.left * k), Math.round(h.top * k), Math.max(1, Math.round(h.width * k)), Math.max(1, Math.round(h.height * k))).data;
      let dark = 0; for (let i = 0; i < px.length; i += 4) if (px[i] + px[i + 1] + px[i + 2] < 384) dark++;
      return dark / (px.length / 4);
    });
    // Where pdf.js itself says each expected line's text is (its text content).
    const pdfjs = await import("/vendor/pdf.min.mjs");
    const r = await fetch(`/v1/kbs/demo/documents/${drawn.key}/original`, { headers: { authorization: "Bearer " + localStorage.getItem("cairn-key") } });
    const pdf = await pdfjs.getDocument({ data: new Uint8Array(await r.arrayBuffer()), isEvalSupported: false }).promise;
    const pg = await pdf.getPage(Number(box.dataset.page));
    const vp = pg.getViewport({ scale });
    const items = (await pg.getTextContent()).items;
    const reported = expected.map((l) => {
      const item = items.find((i) => i.str === l.text);
      if (!item) return null;
      const [, , , d, e, f] = item.transform;
      const [a, b] = vp.convertToViewportPoint(e, f), [c, g] = vp.convertToViewportPoint(e + item.width, f + d * 0.72);
      return { left: Math.min(a, c), top: Math.min(b, g), width: Math.abs(c - a), height: Math.abs(g - b) };
    });
    return { scale, hls, ink, reported };
  }, { expected, drawn: drawnPdf });
  const overlaps = (a, b) => Math.max(0, Math.min(a.left + a.width, b.left + b.width) - Math.max(a.left, b.left))
    * Math.max(0, Math.min(a.top + a.height, b.top + b.height) - Math.max(a.top, b.top));
  assert.equal(geometry.hls.length, expected.length, `one box per cited line: ${JSON.stringify(geometry)}`);
  expected.forEach((line, i) => {
    const s = geometry.scale;
    // The drawn line: from its left edge, between cap height and the baseline.
    const drawnBox = { left: line.left * s, top: (line.baseline - 0.72 * line.size) * s, width: 100 * s, height: 0.72 * line.size * s };
    const hl = geometry.hls.find((h) => overlaps(h, drawnBox) > 0.5 * drawnBox.width * drawnBox.height);
    assert.ok(hl, `a box covers the drawn line ${JSON.stringify(line.text)}: ${JSON.stringify(geometry)}`);
    assert.ok(Math.abs(hl.left - line.left * s) < 3, `the box starts where the line does: ${JSON.stringify(hl)}`);
    const rep = geometry.reported[i];
    assert.ok(rep, `pdf.js reports the line ${JSON.stringify(line.text)}`);
    assert.ok(overlaps(hl, rep) > 0.6 * rep.width * rep.height, `the box covers where pdf.js put the text: ${JSON.stringify({ hl, rep })}`);
  });
  geometry.ink.forEach((share, i) => assert.ok(share > 0.04, `box ${i} lies on rendered text (ink ${share.toFixed(3)})`));
  // The document view below still marks the cited text.
  await page.waitForSelector(`#doc-body mark.hl[data-id="${pdfId}"]`);
  await shot(page, "08-pdf-page");

  assert.deepEqual(dialogs, [], "no dialogs");
  assert.deepEqual(errors, [], "no page errors");
  console.log("BROWSER OK");
} finally {
  await browser.close();
}
