// Drives Debian's chromium through playwright-core against the harness (tests/browser/harness.py).
//
//   node run.mjs <config.json>
//
// config: {scenario: "identify" | "nodb" | "bulk" | "scene" | "theme", url, galleryId, otherGalleryId, accept, expectTop,
//          sceneId, widths (theme: viewport widths), artifacts, prefix, timeoutMs}
// Prints one JSON object on stdout: {ok, error?, ...observations, screenshots: [...]}; the pytest
// side asserts on it and checks the Stash state over GraphQL.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));
const TIMEOUT = cfg.timeoutMs || 240000;
const out = { ok: false, scenario: cfg.scenario, screenshots: [], console: [], pageErrors: [], steps: [] };

function step(s) {
  out.steps.push(s);
  process.stderr.write(`[browser] ${s}\n`);
}

async function shot(page, name, locator) {
  const file = join(cfg.artifacts, `${cfg.prefix}-${name}.png`);
  if (locator) await locator.screenshot({ path: file });
  else await page.screenshot({ path: file });
  out.screenshots.push(file);
}

async function persons(page) {
  return page.$$eval(".stash-sense-person", (els) =>
    els.map((el) => {
      const cands = [...el.querySelectorAll(".stash-sense-candidate")].map((c) => ({
        id: c.getAttribute("data-universal-id"),
        name: (c.querySelector(".stash-sense-cand-name a, .stash-sense-cand-name > span") || {}).textContent || "",
        text: c.textContent,
        confidence: (c.querySelector(".stash-sense-confidence") || {}).textContent || "",
        band: (c.querySelector(".stash-sense-band") || {}).textContent || "",
        onTarget: !!c.querySelector(".stash-sense-tag-on"),
        local: !!c.querySelector(".stash-sense-tag-local"),
        hasImage: !!c.querySelector("img.stash-sense-performer-img"),
        focused: c.classList.contains("stash-sense-focused"),
        rejected: c.classList.contains("stash-sense-rejected"),
      }));
      return {
        label: el.getAttribute("aria-label"),
        focused: el.classList.contains("stash-sense-person-focused"),
        unknown: el.classList.contains("stash-sense-unknown"),
        imageCount: (el.querySelector(".stash-sense-image-count") || {}).textContent || "",
        crop: !!el.querySelector("img.stash-sense-crop"),
        thumbs: [...el.querySelectorAll("img.stash-sense-thumb")].map((i) => ({
          src: i.getAttribute("src"),
          loaded: i.complete && i.naturalWidth > 0,
        })),
        candidates: cands,
      };
    })
  );
}

async function focusedCandidateName(page) {
  return page.$eval(".stash-sense-person-focused", (el) => {
    const c = el.querySelector(".stash-sense-candidate.stash-sense-focused");
    return c ? (c.querySelector(".stash-sense-cand-name a, .stash-sense-cand-name > span") || {}).textContent : null;
  });
}

async function openGallery(page) {
  await page.goto(cfg.url + "galleries/" + cfg.galleryId);
  const btn = page.locator(".gallery-toolbar-group:last-child #stash-sense-identify");
  await btn.waitFor({ timeout: 15000 });
  return btn;
}

// Scene page: persons with time ranges; a time seeks the player; "Add to scene" adds the performer.
async function sceneScenario(page) {
  await page.goto(cfg.url + "scenes/" + cfg.sceneId);
  const btn = page.locator(".scene-toolbar-group:last-child #stash-sense-identify");
  await btn.waitFor({ timeout: 15000 });
  step("scene button");
  await btn.click();
  await page.locator(".stash-sense-person").first().waitFor({ timeout: TIMEOUT });
  step("scene results");
  out.title = await page.locator(".modal-title").first().textContent();
  out.persons = await persons(page);
  out.times = await page.$$eval(".stash-sense-person", (els) =>
    els.map((el) => ({
      top: ((el.querySelector(".stash-sense-cand-name a, .stash-sense-cand-name > span") || {}).textContent || ""),
      frames: (el.querySelector(".stash-sense-image-count") || {}).textContent || "",
      ranges: [...el.querySelectorAll(".stash-sense-time")].map((b) => ({
        text: b.textContent,
        start: Number(b.getAttribute("data-start")),
      })),
    }))
  );
  await shot(page, "scene-results", page.locator(".modal-content"));
  const person = page.locator(".stash-sense-person", { hasText: cfg.accept }).first();
  const time = person.locator(".stash-sense-time").first();
  const start = Number(await time.getAttribute("data-start"));
  await time.click();
  // the page has a marker preview <video> before the player (Stash's markers tab): only the player moves
  out.seek = await page.evaluate((startAt) => {
    const player = document.querySelector("#VideoJsPlayer video.vjs-tech");
    const preview = document.querySelector(".wall-item-preview");
    return {
      start: startAt,
      currentTime: player.currentTime,
      previewTime: preview.currentTime,
      previewFirst: document.querySelector("video") === preview,
    };
  }, start);
  step("seeked");
  const cand = person.locator(".stash-sense-candidate", { hasText: cfg.accept }).first();
  await cand.locator(".stash-sense-add").click();
  await cand.locator(".stash-sense-done").waitFor({ timeout: 60000 });
  out.acceptText = await cand.locator(".stash-sense-done").textContent();
  step("accepted");
}

async function identifyScenario(page) {
  let btn = await openGallery(page);
  out.buttonText = (await btn.textContent()).trim();
  await shot(page, "toolbar", page.locator(".gallery-toolbar"));
  step("button injected in the gallery toolbar");

  // client-side navigation: the toolbar is re-mounted; the button must follow (stash:location)
  if (cfg.otherGalleryId) {
    await page.evaluate((id) => window.__harness.navigate("galleries/" + id), cfg.otherGalleryId);
    await page.waitForSelector(`#stash-sense-identify[data-target-id="${cfg.otherGalleryId}"]`, { timeout: 15000 });
    await page.evaluate(() => window.__harness.navigate("images/1"));
    await page.waitForSelector('.image-toolbar-group:last-child #stash-sense-identify[data-target-type="image"]', {
      timeout: 15000,
    });
    out.imageButton = true;
    await page.evaluate((id) => window.__harness.navigate("galleries/" + id), cfg.galleryId);
    await page.waitForSelector(`.gallery-toolbar #stash-sense-identify[data-target-id="${cfg.galleryId}"]`, {
      timeout: 15000,
    });
    btn = page.locator("#stash-sense-identify");
    step("button re-injected after navigation (gallery -> gallery -> image -> gallery)");
  }

  await btn.click();
  // progress state: modal with a spinner, button busy
  try {
    await page.waitForSelector(".stash-sense-progress", { timeout: 5000 });
    out.progressSeen = true;
    out.buttonBusy = (await page.getAttribute("#stash-sense-identify", "data-state")) === "busy";
    await page
      .waitForFunction(() => /\d+ images?/.test(document.querySelector(".stash-sense-progress").textContent), null, {
        timeout: 3000,
      })
      .catch(() => null); // the gallery's image count arrives with a separate query
    out.progressText = (await page.textContent(".stash-sense-progress").catch(() => "")).trim();
    await shot(page, "progress", page.locator(".modal-content"));
  } catch (e) {
    out.progressSeen = false;
  }
  await page.waitForSelector(".stash-sense-person, .stash-sense-error, .stash-sense-empty", { timeout: TIMEOUT });
  if (await page.$(".stash-sense-error")) {
    out.modalError = (await page.textContent(".stash-sense-error")).trim();
    await shot(page, "error", page.locator(".modal-content"));
    throw new Error("the modal shows an error: " + out.modalError);
  }
  await page.waitForFunction(() => [...document.images].every((i) => i.complete), null, { timeout: 15000 });
  out.personsBefore = await persons(page);
  out.summary = (await page.textContent(".stash-sense-summary")).trim();
  await shot(page, "modal");
  await shot(page, "modal-content", page.locator(".modal-content"));
  step("modal lists " + out.personsBefore.length + " person(s)");

  // keyboard: ArrowDown through persons until the one whose top candidate is cfg.accept
  out.focusTrail = [];
  let found = false;
  for (let i = 0; i < out.personsBefore.length + 1; i++) {
    const name = await focusedCandidateName(page);
    out.focusTrail.push(name);
    if (name && name.trim() === cfg.accept) {
      found = true;
      break;
    }
    await page.keyboard.press("ArrowDown");
    await page.waitForTimeout(100);
  }
  if (!found) throw new Error(`no person with ${cfg.accept} focused; trail ${JSON.stringify(out.focusTrail)}`);
  out.activeIsPerson = await page.evaluate(() => document.activeElement.classList.contains("stash-sense-person"));
  await page.keyboard.press("Enter");
  const accepted = page.locator(".stash-sense-person-focused .stash-sense-candidate.stash-sense-on-target .stash-sense-done");
  await accepted.first().waitFor({ timeout: 120000 });
  out.acceptMessage = (await page.textContent(".stash-sense-person-focused .stash-sense-cand-msg")).trim();
  step("Enter accepted " + cfg.accept + ": " + out.acceptMessage);
  // Stash's page data is refreshed (refetchQueries) and shows the performer
  await page.waitForFunction(
    (n) => [...document.querySelectorAll(".harness-performers li")].some((li) => li.textContent === n),
    cfg.accept,
    { timeout: 15000 }
  );
  out.pagePerformers = await page.$$eval(".harness-performers li", (els) => els.map((e) => e.textContent));
  out.refetches = await page.evaluate(() => window.__harness.refetches.length);
  out.personsAfter = await persons(page);
  await shot(page, "accepted", page.locator(".modal-content"));

  // Esc closes; the button then offers the results again
  await page.keyboard.press("Escape");
  await page.waitForSelector(".stash-sense-modal", { state: "detached", timeout: 10000 });
  out.escClosed = true;
  out.buttonAfter = (await page.textContent("#stash-sense-identify")).trim();
  step("Esc closed the modal");

  // narrow (phone) viewport
  await page.setViewportSize({ width: 390, height: 844 });
  await page.click("#stash-sense-identify");
  await page.waitForSelector(".stash-sense-person", { timeout: TIMEOUT });
  await page.waitForTimeout(400); // modal fade-in
  out.narrow = await page.evaluate(() => {
    const dlg = document.querySelector(".modal-dialog").getBoundingClientRect();
    const body = document.querySelector(".modal-body");
    const wide = [...document.querySelectorAll(".stash-sense-modal *")].filter((el) => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && (r.right > window.innerWidth + 1 || r.left < -1);
    });
    return {
      viewport: window.innerWidth,
      dialogLeft: dlg.left,
      dialogRight: dlg.right,
      bodyOverflowX: body.scrollWidth > body.clientWidth + 1,
      overflowing: wide.slice(0, 5).map((el) => el.className || el.tagName),
    };
  });
  await shot(page, "narrow");
  step("narrow viewport checked");
}

async function nodbScenario(page) {
  const btn = await openGallery(page);
  await btn.click();
  await page.waitForSelector(".stash-sense-error, .stash-sense-person", { timeout: TIMEOUT });
  out.errorKind = await page.$eval(".stash-sense-error", (el) => el.className).catch(() => null);
  out.errorText = (await page.textContent(".stash-sense-error").catch(() => "")).trim();
  out.downloadButton = !!(await page.$(".stash-sense-download"));
  await shot(page, "nodb");
  step("no-database error shown: " + out.errorKind);
  if (!out.downloadButton) throw new Error("no download button");
  await page.click(".stash-sense-download");
  try {
    await page.waitForSelector(".stash-sense-download-status", { timeout: 10000 });
    out.downloadStatus = (await page.textContent(".stash-sense-download-status")).trim();
    await shot(page, "downloading", page.locator(".modal-content"));
  } catch (e) {
    out.downloadStatus = null;
  }
  // the task finishes -> the modal identifies again by itself
  await page.waitForSelector(".stash-sense-person, .stash-sense-download-error", { timeout: TIMEOUT });
  if (await page.$(".stash-sense-download-error")) {
    out.downloadError = (await page.textContent(".stash-sense-download-error")).trim();
    await shot(page, "download-failed", page.locator(".modal-content"));
    throw new Error("download failed: " + out.downloadError);
  }
  out.personsAfterDownload = await persons(page);
  await shot(page, "after-download", page.locator(".modal-content"));
  step("after the download the modal identified " + out.personsAfterDownload.length + " person(s)");
}

async function personIndex(page, topName) {
  const all = await persons(page);
  const i = all.findIndex((p) => p.candidates.length && p.candidates[0].name === topName);
  if (i < 0) throw new Error(`no person whose best candidate is ${topName}: ${JSON.stringify(all)}`);
  return i;
}

async function showAll(page) {
  for (const b of await page.$$(".stash-sense-show-more")) await b.click();
}

// "Also add to images", Reject, "Add all above auto threshold", unknown person, Scan again
async function bulkScenario(page) {
  const btn = await openGallery(page);
  await btn.click();
  await page.waitForSelector(".stash-sense-person", { timeout: TIMEOUT });
  out.personsBefore = await persons(page);
  const person = page.locator(".stash-sense-person").nth(await personIndex(page, cfg.withImages));
  await person.locator(".stash-sense-also-images input").check();
  await showAll(page);
  const cands = await persons(page).then((all) => all.find((p) => p.candidates[0].name === cfg.withImages).candidates);
  const victim = cands.find((c, i) => i > 0 && !cfg.keep.includes(c.name.trim()));
  if (!victim) throw new Error("no candidate to reject: " + JSON.stringify(cands));
  out.rejected = { id: victim.id, name: victim.name.trim() };
  const li = person.locator(`.stash-sense-candidate[data-universal-id="${victim.id}"]`);
  await li.locator(".stash-sense-reject").click();
  await page.waitForSelector(`.stash-sense-candidate.stash-sense-rejected[data-universal-id="${victim.id}"]`, {
    timeout: 60000,
  });
  step("rejected " + out.rejected.name);
  out.addAllText = (await page.textContent(".stash-sense-add-all")).trim();
  await shot(page, "before-add-all", page.locator(".modal-content"));
  await page.click(".stash-sense-add-all");
  await page.waitForSelector(".stash-sense-add-all", { state: "detached", timeout: 120000 });
  out.personsAfter = await persons(page);
  out.messages = await page.$$eval(".stash-sense-cand-msg", (els) => els.map((e) => e.textContent));
  await shot(page, "after-add-all", page.locator(".modal-content"));
  step("added all above the auto threshold");
  await page.click(".stash-sense-rescan");
  await page.waitForSelector(".stash-sense-person", { timeout: TIMEOUT });
  await showAll(page);
  out.personsRescan = await persons(page);
  await shot(page, "rescan", page.locator(".modal-content"));
}

// In Stash's real theme (the harness serves its CSS): the toolbar button on one line at each width in
// cfg.widths, and the text contrast of every control of the plugin (toolbar button, modal buttons).
async function themeScenario(page) {
  out.toolbar = [];
  for (const width of cfg.widths) {
    await page.setViewportSize({ width, height: 900 });
    await openGallery(page);
    out.toolbar.push(await page.evaluate(toolbarFit));
    await shot(page, `toolbar-${width}`, page.locator(".gallery-toolbar"));
  }
  await page.click("#stash-sense-identify");
  await page.waitForSelector(".stash-sense-person", { timeout: TIMEOUT });
  await page.waitForTimeout(500); // modal fade-in
  out.contrast = await page.evaluate(contrasts);
  await shot(page, "modal", page.locator(".modal-content"));
  await showAll(page);
  out.contrast = out.contrast.concat(await page.evaluate(contrasts));
  step("measured " + out.contrast.length + " controls");
}

function toolbarFit() {
  const btn = document.getElementById("stash-sense-identify");
  const label = btn.querySelector(".stash-sense-btn-label");
  const column = document.querySelector(".gallery-tabs");
  const b = btn.getBoundingClientRect();
  const c = column.getBoundingClientRect();
  return {
    viewport: window.innerWidth,
    text: btn.textContent.trim(),
    labelLines: label ? label.getClientRects().length : 0,
    buttonHeight: b.height,
    iconButtonHeight: document.querySelector("#operation-menu").getBoundingClientRect().height,
    insideColumn: b.left >= c.left - 0.5 && b.right <= c.right + 0.5,
    columnOverflowX: column.scrollWidth > column.clientWidth + 1,
  };
}

// WCAG contrast of each visible, enabled control of the plugin against what is painted behind it.
function contrasts() {
  const rgba = (s) => {
    const p = s.match(/[\d.]+/g).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, below) => [0, 1, 2].map((i) => top[i] * top[3] + below[i] * (1 - top[3])).concat([1]);
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    return layers.reduceRight((below, layer) => over(layer, below), [255, 255, 255, 1]);
  };
  const opacity = (el) => {
    let o = 1;
    for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
    return o;
  };
  const lum = (c) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const controls = [...document.querySelectorAll("#stash-sense-identify, .stash-sense-modal button")].filter(
    (el) => !el.disabled && el.getBoundingClientRect().width > 0 && /stash-sense-/.test(el.className)
  );
  return controls.map((el) => {
    const bg = background(el);
    const fg = rgba(getComputedStyle(el).color);
    const text = over([fg[0], fg[1], fg[2], fg[3] * opacity(el)], bg);
    const [hi, lo] = [lum(text), lum(bg)].sort((a, b) => b - a);
    return {
      control: el.className.split(" ").filter((c) => c.startsWith("stash-sense-")).join(" "),
      text: el.textContent.trim(),
      ratio: Math.round(((hi + 0.05) / (lo + 0.05)) * 100) / 100,
      color: getComputedStyle(el).color,
      background: "rgb(" + bg.slice(0, 3).map(Math.round).join(", ") + ")",
    };
  });
}

const SCENARIOS = {
  identify: identifyScenario,
  nodb: nodbScenario,
  bulk: bulkScenario,
  scene: sceneScenario,
  theme: themeScenario,
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
let page;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: "dark" });
  page = await context.newPage();
  page.setDefaultTimeout(30000);
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") out.console.push(`${m.type()}: ${m.text()}`.slice(0, 500));
  });
  page.on("pageerror", (e) => out.pageErrors.push(String(e).slice(0, 500)));
  await SCENARIOS[cfg.scenario](page);
  out.ok = true;
} catch (e) {
  out.error = String((e && e.stack) || e).slice(0, 2000);
  if (page) {
    try {
      await shot(page, "failure");
    } catch (_) {
      /* page gone */
    }
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + "\n");
