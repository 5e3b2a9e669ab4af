// Drives Debian's chromium through playwright-core against Stash's REAL web UI (../shared/stash-ui/build),
// served by the demo Stash behind a reverse proxy on a sub-path (devtools/demo/proxy.py, /stash/), with
// the plugin's JavaScript loaded by Stash's own plugin loader.
//
//   node run.mjs <config.json>
//
// config: {scenario: "gallery" | "nodb" | "bulk" | "scene" | "settings" | "tasks" | "widths" | "reviewPage" |
//          "pageNoDb" | "pageBench" | "unknownPeople" | "findEverywhere", url, galleryId,
//          imageId, sceneId, accept, withImages, keep, settings, task, artifacts, prefix, timeoutMs}
// Prints one JSON object on stdout: {ok, error?, ...observations, screenshots: [...]}; the pytest
// side asserts on it and checks the Stash state over GraphQL.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));
const TIMEOUT = cfg.timeoutMs || 240000;
const out = { ok: false, scenario: cfg.scenario, screenshots: [], console: [], pageErrors: [], steps: [], external: [], httpErrors: [] };

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


// WCAG contrast of an element's text against what is really behind it (backgrounds composited upwards).
async function contrast(locator) {
  return locator.evaluate((el) => {
    const parse = (c) => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return [0, 0, 0, 0];
      const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
      return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    };
    const layers = [];
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      const cs = getComputedStyle(n);
      layers.push(parse(cs.backgroundColor));
      if (cs.opacity !== "1") layers[layers.length - 1][3] *= Number(cs.opacity);
    }
    let bg = [255, 255, 255];
    for (const [r, g, b, a] of layers.reverse()) bg = [r * a + bg[0] * (1 - a), g * a + bg[1] * (1 - a), b * a + bg[2] * (1 - a)];
    const [fr, fg, fb, fa] = parse(getComputedStyle(el).color);
    const fgc = [fr * fa + bg[0] * (1 - fa), fg * fa + bg[1] * (1 - fa), fb * fa + bg[2] * (1 - fa)];
    const lum = (rgb) => {
      const [r, g, b] = rgb.map((v) => {
        v /= 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const [l1, l2] = [lum(fgc), lum(bg)].sort((a, b) => b - a);
    return { text: el.textContent.trim().slice(0, 40), cls: el.className, ratio: (l1 + 0.05) / (l2 + 0.05) };
  });
}

// Number of lines the button's text takes (a wrapped label has two distinct line tops).
async function textLines(locator) {
  return locator.evaluate((el) => {
    const tops = new Set();
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let t = walker.nextNode(); t; t = walker.nextNode()) {
      if (!t.textContent.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(t);
      for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.top / 4));
    }
    return tops.size;
  });
}

async function openGallery(page) {
  await page.goto(cfg.url + "galleries/" + cfg.galleryId);
  const btn = page.locator(".gallery-toolbar #stash-sense-identify");
  await btn.waitFor({ timeout: 30000 });
  return btn;
}

async function waitResults(page) {
  await page.waitForSelector(".stash-sense-person, .stash-sense-error, .stash-sense-empty", { timeout: TIMEOUT });
  if (await page.$(".stash-sense-error")) {
    out.modalError = (await page.textContent(".stash-sense-error")).trim();
    await shot(page, "error", page.locator(".modal-content"));
    throw new Error("the modal shows an error: " + out.modalError);
  }
  await page.waitForFunction(() => [...document.images].every((i) => i.complete), null, { timeout: 15000 });
}

// The page's own performer list (Stash's gallery details panel), outside our modal.
async function pagePerformers(page) {
  return page.$$eval(".performer-card", (els) =>
    els.filter((e) => !e.closest(".stash-sense-modal")).map((e) => e.textContent.trim())
  );
}

// The toolbar label fits on one line at the widths users have.
async function widthsScenario(page) {
  out.widths = {};
  for (const width of [1400, 1920]) {
    await page.setViewportSize({ width, height: 900 });
    const btn = await openGallery(page);
    await page.waitForTimeout(300);
    out.widths[width] = { lines: await textLines(btn), height: (await btn.boundingBox()).height };
    await shot(page, `toolbar-${width}`, page.locator(".gallery-toolbar"));
  }
  step("toolbar measured at 1400 and 1920 px");
}

// Gallery button in the real toolbar -> modal -> Enter accepts -> Stash's page shows the performer;
// contrast of the modal's controls; image page button.
async function galleryScenario(page) {
  const btn = await openGallery(page);
  out.buttonText = (await btn.textContent()).trim();
  out.performersBefore = await pagePerformers(page);
  await shot(page, "toolbar", page.locator(".gallery-toolbar"));
  step("button in the real gallery toolbar");
  await btn.click();
  try {
    await page.waitForSelector(".stash-sense-progress", { timeout: 5000 });
    out.progressSeen = true;
    out.buttonBusy = (await page.getAttribute("#stash-sense-identify", "data-state")) === "busy";
  } catch (e) {
    out.progressSeen = false;
  }
  await waitResults(page);
  out.personsBefore = await persons(page);
  out.summary = (await page.textContent(".stash-sense-summary")).trim();
  await page.waitForTimeout(400); // modal fade-in, so colours are final
  await shot(page, "modal");
  await shot(page, "modal-content", page.locator(".modal-content"));
  step("modal lists " + out.personsBefore.length + " person(s)");
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
  await page.keyboard.press("Enter");
  const accepted = page.locator(".stash-sense-person-focused .stash-sense-candidate.stash-sense-on-target .stash-sense-done");
  await accepted.first().waitFor({ timeout: 120000 });
  out.acceptMessage = (await page.textContent(".stash-sense-person-focused .stash-sense-cand-msg")).trim();
  step("Enter accepted " + cfg.accept + ": " + out.acceptMessage);
  await showAll(page);
  await page.waitForTimeout(300);
  out.contrast = [];
  for (const b of await page.locator(".stash-sense-modal button:visible, .stash-sense-modal .btn:visible, .stash-sense-modal .badge:visible, .stash-sense-modal .text-success:visible, .stash-sense-modal a:visible").all()) {
    if ((await b.textContent()).trim()) out.contrast.push(await contrast(b));
  }
  out.rejectButtons = await page.locator(".stash-sense-modal .stash-sense-reject:visible").count();

  await shot(page, "modal-all", page.locator(".modal-content"));
  await page.locator(".stash-sense-person").first().focus();
  await page.keyboard.press("Escape");
  await page.waitForSelector(".stash-sense-modal", { state: "detached", timeout: 10000 });
  // Stash's own gallery page (its Apollo cache refreshed by the plugin) now lists the performer
  await page.waitForFunction(
    (n) => [...document.querySelectorAll(".performer-card")].some((c) => c.textContent.includes(n)),
    cfg.accept,
    { timeout: 15000 }
  );
  out.performersAfter = await pagePerformers(page);
  await shot(page, "gallery-after-add");
  step("the real gallery page shows " + cfg.accept);

  await page.goto(cfg.url + "images/" + cfg.imageId);
  const imageBtn = page.locator(".image-toolbar #stash-sense-identify, .image-toolbar-group #stash-sense-identify");
  await imageBtn.waitFor({ timeout: 30000 });
  await imageBtn.click();
  await waitResults(page);
  out.imagePersons = await persons(page);
  await shot(page, "image-modal", page.locator(".modal-content"));
  step("image page identified " + out.imagePersons.length + " person(s)");
}

// Scene page with markers: the marker wall's previews are <video>s before the player; a time in the
// modal must seek the real (video.js) player.
async function sceneScenario(page) {
  await page.goto(cfg.url + "scenes/" + cfg.sceneId);
  await page.locator("[data-rb-event-key=scene-markers-panel]").click();
  await page.waitForFunction(() => document.querySelectorAll("video.wall-item-preview").length > 0, null, { timeout: 15000 });
  out.videos = await page.$$eval("video", (els) => els.map((v) => v.className));
  step("markers shown: " + out.videos.length + " <video> elements");
  const btn = page.locator(".scene-toolbar #stash-sense-identify, .scene-toolbar-group #stash-sense-identify");
  await btn.waitFor({ timeout: 30000 });
  await btn.click();
  await waitResults(page);
  out.title = await page.locator(".stash-sense-modal .modal-title").first().textContent();
  out.persons = await persons(page);
  out.times = await page.$$eval(".stash-sense-person", (els) =>
    els.map((el) => ({
      top: (el.querySelector(".stash-sense-cand-name a, .stash-sense-cand-name > span") || {}).textContent || "",
      ranges: [...el.querySelectorAll(".stash-sense-time")].map((b) => ({ text: b.textContent, start: Number(b.getAttribute("data-start")) })),
    }))
  );
  await shot(page, "scene-results", page.locator(".modal-content"));
  const person = page.locator(".stash-sense-person", { hasText: cfg.accept }).first();
  const time = person.locator(".stash-sense-time").first();
  const start = Number(await time.getAttribute("data-start"));
  await time.click();
  await page.waitForTimeout(500);
  out.seek = {
    start,
    player: await page.$eval("video.vjs-tech", (v) => v.currentTime),
    previews: await page.$$eval("video.wall-item-preview", (vs) => vs.map((v) => v.currentTime)),
  };
  step("clicked " + start + " s: player at " + out.seek.player);
  const cand = person.locator(".stash-sense-candidate", { hasText: cfg.accept }).first();
  await cand.locator(".stash-sense-add").click();
  await cand.locator(".stash-sense-done").waitFor({ timeout: 60000 });
  out.acceptText = await cand.locator(".stash-sense-done").textContent();
}

// The plugin's settings, edited on Stash's Settings > Plugins page as a user does.
async function settingsScenario(page) {
  await page.goto(cfg.url + "settings?tab=plugins");
  for (const [key, value] of Object.entries(cfg.settings)) {
    if (typeof value === "boolean") {
      const box = page.locator(`#plugin-stash_sense-${key}`);
      await box.waitFor({ state: "attached", timeout: 30000 });
      if ((await box.isChecked()) !== value) await box.evaluate((el) => el.click()); // the switch's input is drawn by CSS
      await page.waitForFunction(([id, v]) => document.getElementById(id).checked === v, [`plugin-stash_sense-${key}`, value]);
    } else {
      const setting = page.locator(`#plugin-stash_sense-${key}`);
      await setting.locator("button", { hasText: "Edit" }).click();
      const input = page.locator("#setting-dialog input");
      await input.fill(String(value));
      await page.locator("#setting-dialog button[type=submit]").click();
      await page.locator("#setting-dialog").waitFor({ state: "detached" });
      await page.waitForFunction(([id, v]) => document.getElementById(id).querySelector(".value").textContent.trim() === v,
        [`plugin-stash_sense-${key}`, String(value)], { timeout: 10000 });
    }
    step(`set ${key} = ${value}`);
  }
  await page.waitForTimeout(500); // Stash saves through configurePlugin after each change
  await shot(page, "settings");
}

// A plugin task started from Stash's Tasks page; its progress bar in the task queue must move.
async function tasksScenario(page) {
  await page.goto(cfg.url + "settings?tab=tasks");
  const task = page.locator(".setting", { has: page.locator("h3", { hasText: cfg.task }) }).locator("button", { hasText: cfg.task });
  await task.waitFor({ timeout: 30000 });
  await page.evaluate(() => {
    window.__progress = [];
    setInterval(() => {
      for (const bar of document.querySelectorAll(".progress-bar")) window.__progress.push(Number(bar.getAttribute("aria-valuenow")));
      if (document.querySelector(".progress-bar")) window.__sawBar = true;
    }, 50);
  });
  await task.click();
  step("task started: " + cfg.task);
  await page.waitForFunction(() => window.__sawBar, null, { timeout: 60000 });
  await shot(page, "task-running");
  await page.waitForFunction(() => window.__sawBar && !document.querySelector(".progress-bar"), null, { timeout: TIMEOUT });
  out.progress = await page.evaluate(() => window.__progress);
  step("progress values: " + [...new Set(out.progress)].join(","));
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

// --- the Stash Sense page (/plugin/stash-sense) ------------------------------------------------------

async function queueGroups(page) {
  return page.$$eval(".stash-sense-q-group", (els) =>
    els.map((g) => ({
      id: g.getAttribute("data-universal-id"),
      name: g.getAttribute("aria-label"),
      focused: g.classList.contains("stash-sense-q-focused"),
      targets: [...g.querySelectorAll(".stash-sense-q-target")].map((t) => ({
        key: t.getAttribute("data-target"),
        deleted: t.classList.contains("stash-sense-q-deleted"),
        crop: !!t.querySelector("img.stash-sense-q-crop"),
        thumbs: [...t.querySelectorAll("img.stash-sense-thumb")].map((i) => ({ src: i.getAttribute("src"), loaded: i.complete && i.naturalWidth > 0 })),
        link: (t.querySelector(".stash-sense-q-title a") || {}).href || null,
      })),
    }))
  );
}

async function openPageFromNavbar(page) {
  await page.goto(cfg.url);
  const link = page.locator(".stash-sense-nav:visible").first(); // Stash renders its utility items twice (wide and narrow navbar)
  await link.waitFor({ timeout: 30000 });
  const started = Date.now();
  await link.click();
  await page.waitForSelector(".stash-sense-q-group, .stash-sense-empty, .stash-sense-error", { timeout: TIMEOUT });
  return Date.now() - started;
}

// Press a key and wait until the focused group is another one and the decision's message is shown.
async function decideByKey(page, key) {
  const before = await page.$eval(".stash-sense-q-focused", (g) => g.getAttribute("data-universal-id") + "|" + g.querySelectorAll(".stash-sense-q-target").length);
  const oldMessage = await page.$$eval(".stash-sense-q-message", (m) => (m[0] ? m[0].textContent : ""));
  const started = Date.now();
  await page.keyboard.press(key);
  await page.waitForFunction(
    ([b, m]) => {
      const g = document.querySelector(".stash-sense-q-focused");
      const msg = document.querySelector(".stash-sense-q-message");
      const now = g ? g.getAttribute("data-universal-id") + "|" + g.querySelectorAll(".stash-sense-q-target").length : "";
      return msg && msg.textContent !== m && now !== b && !document.querySelector(".stash-sense-q-busy");
    },
    [before, oldMessage],
    { timeout: TIMEOUT }
  );
  return { ms: Date.now() - started, message: (await page.textContent(".stash-sense-q-message")).trim() };
}

async function reviewPageScenario(page) {
  out.firstRenderMs = await openPageFromNavbar(page);
  await page.waitForFunction(() => [...document.images].every((i) => i.complete), null, { timeout: 15000 });
  out.summary = (await page.textContent(".stash-sense-q-summary")).trim();
  out.groupsBefore = await queueGroups(page);
  await shot(page, "review");
  step("review queue shown");
  out.accept = await decideByKey(page, "a");
  out.groupsAfterAccept = await queueGroups(page);
  out.undo = await decideByKey(page, "u");
  out.groupsAfterUndo = await queueGroups(page);
  step("accept, then undo with u");
  out.reject = await decideByKey(page, "r");
  step("reject");
  const dismiss = page.locator(".stash-sense-dismiss").first();
  if (await dismiss.count()) {
    await dismiss.click();
    await page.waitForFunction(() => /Dismissed/.test((document.querySelector(".stash-sense-q-message") || {}).textContent || ""));
    out.dismissed = true;
  }
  out.groupsEnd = await queueGroups(page);
  await page.click(".stash-sense-tab-runs");
  await page.waitForSelector(".stash-sense-runs-table");
  out.runs = await page.$$eval(".stash-sense-runs-table tbody tr", (rows) => rows.map((r) => ({ id: r.getAttribute("data-run-id"), text: r.textContent, undo: !!r.querySelector(".stash-sense-undo") })));
  const target = cfg.undoRunId ? page.locator(`tr[data-run-id="${cfg.undoRunId}"] .stash-sense-undo`) : page.locator(".stash-sense-undo").last();
  await target.click();
  await page.waitForSelector(".stash-sense-undo-preview");
  out.undoPreview = {
    remove: await page.$$eval(".stash-sense-undo-remove li", (l) => l.map((x) => x.textContent)),
    stays: await page.$$eval(".stash-sense-undo-stays li", (l) => l.map((x) => x.textContent)),
  };
  await shot(page, "undo-preview", page.locator(".modal-content"));
  await page.click(".stash-sense-undo-confirm");
  await page.waitForSelector(".stash-sense-undo-modal", { state: "detached", timeout: TIMEOUT });
  out.undoneText = (await page.textContent(".stash-sense-runs .alert-info")).trim();
  step("undo of a chosen run");
  await page.click(".stash-sense-tab-database");
  await page.waitForSelector(".stash-sense-engine-state");
  out.dbText = (await page.textContent(".stash-sense-db-table")).trim();
  out.engineState = (await page.textContent(".stash-sense-engine-state")).trim();
  await shot(page, "database");
  await page.click(".stash-sense-tab-settings");
  await page.waitForSelector(".stash-sense-explain-auto");
  out.explainAuto = (await page.textContent(".stash-sense-explain-auto")).trim();
  await page.fill("#stash-sense-new-auto", "50");
  await page.click(".stash-sense-threshold-preview button");
  await page.waitForSelector(".stash-sense-preview-result");
  out.previewText = (await page.textContent(".stash-sense-preview-result")).trim();
  await shot(page, "settings");
}

async function pageNoDbScenario(page) {
  await openPageFromNavbar(page);
  out.reviewText = (await page.textContent(".stash-sense-queue")).trim();
  await page.click(".stash-sense-tab-database");
  await page.waitForSelector(".stash-sense-db-problem");
  out.problem = (await page.textContent(".stash-sense-db-problem")).trim();
  await shot(page, "nodb");
}

// The benchmark: first render from the navbar click, and decisions (key -> next group shown, write done).
async function pageBenchScenario(page) {
  out.firstRenderMs = await openPageFromNavbar(page);
  out.summary = (await page.textContent(".stash-sense-q-summary")).trim();
  out.decisions = [];
  for (let i = 0; i < (cfg.decisions || 5); i++) out.decisions.push(await decideByKey(page, cfg.key || "r"));
  await shot(page, "bench");
}

// --- the library's own faces: "Unknown people" tab and the performer page's "Find everywhere" -------

// Performer names on Stash objects, asked from Stash's GraphQL as the page itself would.
async function performersOn(page, type, ids) {
  return page.evaluate(
    async ([type, ids]) => {
      const field = type === "gallery" ? "findGallery" : type === "scene" ? "findScene" : "findImage";
      const out = {};
      for (const id of ids) {
        const r = await fetch(new URL("graphql", document.baseURI), {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ query: `query($id: ID!) { ${field}(id: $id) { performers { name } } }`, variables: { id } }),
        }).then((x) => x.json());
        out[id] = r.data[field].performers.map((p) => p.name).sort();
      }
      return out;
    },
    [type, ids]
  );
}

async function contrastOf(page, selector) {
  const found = [];
  for (const el of await page.locator(selector).all()) {
    if ((await el.isVisible()) && (await el.textContent()).trim()) found.push(await contrast(el));
  }
  return found;
}

async function unknownGroups(page) {
  return page.$$eval(".stash-sense-unknown-person", (els) =>
    els.map((g) => ({
      id: g.getAttribute("data-person-id"),
      label: g.querySelector(".stash-sense-unknown-label").textContent,
      crops: [...g.querySelectorAll("img.stash-sense-unknown-crop")].map((i) => ({
        data: i.getAttribute("src").startsWith("data:image/"),
        loaded: i.complete && i.naturalWidth > 0,
      })),
      items: [...g.querySelectorAll("a.stash-sense-unknown-item")].map((a) => ({
        type: a.getAttribute("data-type"),
        id: a.getAttribute("data-id"),
        text: a.textContent,
        href: a.getAttribute("href"),
      })),
    }))
  );
}

// The group whose galleries are exactly these ids.
async function groupWithGalleries(page, galleryIds) {
  const want = [...galleryIds].sort().join(",");
  const groups = await unknownGroups(page);
  const g = groups.find((x) => x.items.filter((i) => i.type === "gallery").map((i) => i.id).sort().join(",") === want);
  if (!g) throw new Error(`no group in exactly the galleries ${want}: ${JSON.stringify(groups.map((x) => [x.label, x.items]))}`);
  return page.locator(`.stash-sense-unknown-person[data-person-id="${g.id}"]`);
}

// Wait for the message matching `re` (or an error, which fails the scenario); returns its text.
async function messageIn(page, box, re) {
  await page.waitForFunction(
    ([box, src]) => document.querySelector(box + " .stash-sense-error") ||
      (new RegExp(src).test((document.querySelector(box + " .alert-info") || {}).textContent || "") &&
       !document.querySelector(box + " .spinner-border")),
    [box, re.source],
    { timeout: TIMEOUT }
  );
  const error = await page.$(box + " .stash-sense-error");
  if (error) throw new Error("the page shows an error: " + (await error.textContent()));
  return (await page.textContent(box + " .alert-info")).trim();
}

const unknownMessage = (page, re) => messageIn(page, ".stash-sense-unknown-people", re);

async function unknownPeopleScenario(page) {
  await openPageFromNavbar(page);
  await page.click(".stash-sense-tab-unknown");
  await page.waitForSelector(".stash-sense-unknown-empty, .stash-sense-unknown-person, .stash-sense-unknown-people .stash-sense-error");
  out.emptyText = (await page.textContent(".stash-sense-unknown-people")).trim();
  await page.click(".stash-sense-unknown-run");
  step("grouping task started from the page");
  out.doneMessage = await unknownMessage(page, /Grouping done/);
  await page.waitForFunction(() => [...document.images].every((i) => i.complete), null, { timeout: 15000 });
  out.groups = await unknownGroups(page);
  out.contrast = await contrastOf(page, ".stash-sense-unknown-people button, .stash-sense-unknown-people .badge, .stash-sense-unknown-label, .stash-sense-unknown-people a");
  await shot(page, "groups");
  step(out.groups.length + " groups listed");

  const named = await groupWithGalleries(page, cfg.newGalleries);
  await named.locator(".stash-sense-new-name").fill(cfg.newName);
  await named.locator(".stash-sense-name-new").click();
  out.nameMessage = await unknownMessage(page, new RegExp("is " + cfg.newName));
  out.afterName = await performersOn(page, "gallery", cfg.newGalleries);
  out.groupsAfterName = await unknownGroups(page);
  await shot(page, "named");
  step("named a group: " + out.nameMessage);
  await page.click(".stash-sense-unknown-undo");
  out.undoMessage = await unknownMessage(page, /^Undone/);
  out.afterUndo = await performersOn(page, "gallery", cfg.newGalleries);
  out.groupsAfterUndo = await unknownGroups(page);
  step("undone");

  const known = await groupWithGalleries(page, cfg.thisIsGalleries);
  await known.locator(".stash-sense-this-is-input").fill(cfg.thisIsSearch);
  const option = known.locator(".stash-sense-performer-option", { hasText: cfg.thisIsName });
  await option.waitFor({ timeout: 15000 });
  out.options = await known.locator(".stash-sense-performer-option").allTextContents();
  await shot(page, "this-is");
  await option.click();
  out.thisIsMessage = await unknownMessage(page, new RegExp("is " + cfg.thisIsName));
  step("this is " + cfg.thisIsName);

  const boring = await groupWithGalleries(page, cfg.hideGalleries);
  const boringId = await boring.getAttribute("data-person-id");
  await boring.locator(".stash-sense-hide").click();
  out.hideMessage = await unknownMessage(page, /hidden/);
  out.hiddenId = boringId;
  out.groupsEnd = await unknownGroups(page);
  await shot(page, "end");
}

async function findItems(page) {
  return page.$$eval(".stash-sense-find-item", (els) =>
    els.map((li) => ({
      key: li.getAttribute("data-item"),
      title: li.querySelector(".stash-sense-find-title a").textContent,
      href: li.querySelector(".stash-sense-find-title a").getAttribute("href"),
      confidence: li.querySelector(".stash-sense-confidence").textContent,
      band: li.querySelector(".stash-sense-band").textContent,
      thumbs: [...li.querySelectorAll("img.stash-sense-thumb")].map((i) => ({ src: i.getAttribute("src"), loaded: i.complete && i.naturalWidth > 0 })),
    }))
  );
}

const findMessage = (page, re) => messageIn(page, ".stash-sense-find-modal", re);

async function findEverywhereScenario(page) {
  await page.goto(cfg.url + "performers/" + cfg.performerId);
  const btn = page.locator("#performer-page .details-edit #stash-sense-find-everywhere");
  await btn.waitFor({ timeout: 30000 });
  out.buttonText = (await btn.textContent()).trim();
  out.buttonRow = await page.$$eval("#performer-page .details-edit > button", (bs) => bs.map((b) => b.textContent.trim()));
  await shot(page, "button", page.locator("#performer-page .details-edit"));
  await btn.click();
  await page.waitForSelector(".stash-sense-find-item, .stash-sense-find-modal .stash-sense-empty, .stash-sense-find-modal .stash-sense-error", { timeout: TIMEOUT });
  if (await page.$(".stash-sense-find-modal .stash-sense-error")) throw new Error("find everywhere failed: " + (await page.textContent(".stash-sense-find-modal .stash-sense-error")));
  await page.waitForFunction(() => [...document.images].every((i) => i.complete), null, { timeout: 15000 });
  await page.waitForTimeout(400); // modal fade-in, so colours are final
  out.title = (await page.textContent(".stash-sense-find-modal .modal-title")).trim();
  out.summary = (await page.textContent(".stash-sense-find-summary")).trim();
  out.itemsBefore = await findItems(page);
  out.autoText = (await page.textContent(".stash-sense-find-add-auto")).trim();
  out.contrast = await contrastOf(page, ".stash-sense-find-modal button, .stash-sense-find-modal .badge, .stash-sense-find-modal .stash-sense-q-type");
  await shot(page, "list", page.locator(".modal-content"));
  step(out.itemsBefore.length + " places listed");

  await page.locator(`.stash-sense-find-item[data-item="gallery:${cfg.select}"] .stash-sense-find-check`).check();
  out.selectedText = (await page.textContent(".stash-sense-find-add-selected")).trim();
  await page.click(".stash-sense-find-add-selected");
  out.addMessage = await findMessage(page, /^Added/);
  out.afterAdd = await performersOn(page, "gallery", [cfg.select]);
  out.itemsAfterAdd = await findItems(page);
  await shot(page, "added", page.locator(".modal-content"));
  step("added the selected gallery");
  await page.click(".stash-sense-find-undo");
  out.undoMessage = await findMessage(page, /^Undone/);
  out.afterUndo = await performersOn(page, "gallery", [cfg.select]);
  out.itemsAfterUndo = await findItems(page);
  step("undone");
  out.autoTextAgain = (await page.textContent(".stash-sense-find-add-auto")).trim();
  await page.click(".stash-sense-find-add-auto");
  out.autoMessage = await findMessage(page, /^Added/);
  out.itemsEnd = await findItems(page);
  await shot(page, "auto", page.locator(".modal-content"));
  step("added all above the auto threshold");
}

const SCENARIOS = {
  gallery: galleryScenario,
  widths: widthsScenario,
  nodb: nodbScenario,
  bulk: bulkScenario,
  scene: sceneScenario,
  settings: settingsScenario,
  tasks: tasksScenario,
  reviewPage: reviewPageScenario,
  pageNoDb: pageNoDbScenario,
  pageBench: pageBenchScenario,
  unknownPeople: unknownPeopleScenario,
  findEverywhere: findEverywhereScenario,
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
  const context = await browser.newContext({ viewport: { width: cfg.width || 1400, height: 900 }, colorScheme: "dark" });
  // Stash's player asks Google for the Chromecast script; nothing leaves 127.0.0.1 in tests
  await context.route(/^https?:\/\/(?!127\.0\.0\.1)/, (route) => {
    out.external.push(route.request().url());
    return route.abort();
  });
  page = await context.newPage();
  page.setDefaultTimeout(30000);
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") out.console.push(`${m.type()}: ${m.text()}`.slice(0, 500));
  });
  page.on("response", (r) => {
    if (r.status() >= 400) out.httpErrors.push(`${r.status()} ${r.url()}`);
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
