// The browser scenario of the Passerelle pages, run by tests/passerelle-e2e/tests/browser.rs
// against a real server: Debian's Chromium, headless, driven by playwright-core; axe-core
// injected on every page visited (zero serious or critical violation allowed).
//
// Environment:
//   PASSERELLE_BASE    https://127.0.0.1:PORT
//   PASSERELLE_ENROL   JSON {username: "/enrol/TOKEN", …} (users not yet enrolled)
//   SCREENSHOT_DIR     where the screenshots go
//   CHROMIUM           the browser (default /usr/bin/chromium)
// Exit code 0 when every check passed; 1 and the failed check on stderr otherwise.

import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const BASE = process.env.PASSERELLE_BASE;
const ENROL = JSON.parse(process.env.PASSERELLE_ENROL || '{}');
const SHOTS = process.env.SCREENSHOT_DIR || 'screenshots';
const BROWSER = process.env.CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'correct horse battery staple 63';

// Every string of the victim's file the scenario types: none may reach an auditor page.
const VICTIM_STRINGS = [
  'Camille', '1990-04-12', '06 00 00 00 63', 'tournesol', 'en semaine de 9 h',
  'Violences répétées', 'Menaces de mort', 'je la rappelle', 'Attestation de prise en charge',
  'Audience à prévoir', 'Aucune procédure ouverte',
];

if (!BASE) {
  console.error('PASSERELLE_BASE is not set');
  process.exit(2);
}
mkdirSync(SHOTS, { recursive: true });

// ---------------------------------------------------------------------------------------
// RFC 6238 TOTP (SHA-1, 6 digits, 30 s) with node's crypto only.

function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = s.replace(/[\s=]/g, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const idx = alphabet.indexOf(ch);
    if (idx < 0) throw new Error('not base32');
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function totp(secretBase32, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32Decode(secretBase32)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const bin =
    ((mac[offset] & 0x7f) << 24) |
    (mac[offset + 1] << 16) |
    (mac[offset + 2] << 8) |
    mac[offset + 3];
  return String(bin % 1_000_000).padStart(6, '0');
}

const currentStep = () => Math.floor(Date.now() / 1000 / 30);

// ---------------------------------------------------------------------------------------
// Checks, screenshots, axe.

let failures = 0;
let shotNo = 0;
const axeSeen = new Set();

function check(cond, what) {
  if (!cond) {
    failures += 1;
    console.error(`FAIL: ${what}`);
    throw new Error(what);
  }
  console.log(`ok: ${what}`);
}

async function shoot(page, name) {
  shotNo += 1;
  const file = path.join(SHOTS, `${String(shotNo).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
}

/// axe-core on the page: no serious or critical violation. Also: no horizontal scroll at
/// 360 px wide.
async function audit(page, name) {
  // Through the DevTools protocol: the page's own policy (rightly) refuses injected scripts.
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }),
  );
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of bad) {
    console.error(`axe ${v.impact} ${v.id} on ${name} (${page.url()}): ${v.help}`);
    for (const n of v.nodes.slice(0, 5)) console.error(`   ${n.target.join(' ')}`);
  }
  check(bad.length === 0, `axe: no serious/critical violation on ${name}`);
  const size = page.viewportSize();
  await page.setViewportSize({ width: 360, height: 740 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  if (overflow > 360) {
    // Name what sticks out, so that the failure says where to look.
    const wide = await page.evaluate(() =>
      [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > 361)
        .slice(0, 8)
        .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}${e.className ? `.${String(e.className).replace(/ /g, '.')}` : ''}`),
    );
    console.error(`   wider than 360 px: ${wide.join(', ')}`);
  }
  await page.setViewportSize(size);
  check(overflow <= 360, `${name} fits 360 px (scrollWidth ${overflow})`);
  axeSeen.add(new URL(page.url()).pathname.replace(/^\/enrol\/.*/, '/enrol/…'));
}

/// Visits `url`, audits it, takes its screenshot; returns the response.
async function visit(page, url, name) {
  const res = await page.goto(new URL(url, BASE).href);
  await audit(page, name);
  await shoot(page, name);
  return res;
}

/// After a form post: audit and screenshot the page reached.
async function landed(page, name) {
  await page.waitForLoadState('load');
  await audit(page, name);
  await shoot(page, name);
}

// ---------------------------------------------------------------------------------------
// Users.

/** Enrols `username` through its link (password + TOTP) and logs in; returns its page.
 * With `via`, the login is the session-expiry round trip instead: a stale session cookie,
 * the page `via` sends to `/login?next=…`, and logging in lands back on `via`. */
async function enrolAndLogin(browser, username, via) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'fr-FR' });
  const page = await context.newPage();
  await visit(page, ENROL[username], `enrol-${username}`);
  const secret = (await page.textContent('#totp-secret')).replace(/\s/g, '');
  const step = currentStep();
  await page.fill('#password', PASSWORD);
  await page.fill('#confirm', PASSWORD);
  await page.fill('#code', totp(secret, step));
  await Promise.all([page.waitForURL(/\/login/), page.click('form button[type=submit]')]);
  await landed(page, `login-${username}`);
  if (via) {
    // An expired session: the browser still sends a cookie the server no longer knows.
    await context.addCookies([
      { name: '__Host-passerelle', value: 'expired-session-0000000000000000', url: BASE, secure: true, httpOnly: true, sameSite: 'Strict' },
    ]);
    await page.goto(new URL(via, BASE).href);
    const u = new URL(page.url());
    check(u.pathname === '/login' && u.searchParams.get('next') === via, `expired session on ${via}: sent to log in (${u.pathname}${u.search})`);
    const stale = (await context.cookies(BASE)).find((c) => c.name === '__Host-passerelle');
    check(!stale, 'the stale session cookie is forgotten');
    await audit(page, `login-next-${username}`);
  }
  // The step used at enrolment is spent: log in with the next one (within the skew).
  await page.fill('#username', username);
  await page.fill('#password', PASSWORD);
  await page.fill('#code', totp(secret, step + 1));
  await Promise.all([
    page.waitForURL((u) => !u.pathname.startsWith('/login')),
    page.click('main form button[type=submit]'),
  ]);
  const target = via || '/';
  check(new URL(page.url()).pathname + new URL(page.url()).search === target, `${username} is logged in with TOTP, on ${target}`);
  await landed(page, via ? `back-on-${username}` : `home-${username}`);
  return { context, page, username };
}

/** Every same-origin link of the navigation, audited. */
async function crawl(user) {
  const { page, username } = user;
  await page.goto(new URL('/', BASE).href);
  const hrefs = await page.$$eval('header a, nav a', (as) =>
    as.map((a) => a.getAttribute('href')).filter((h) => h && h.startsWith('/')),
  );
  for (const href of [...new Set(hrefs)]) {
    const res = await page.goto(new URL(href, BASE).href);
    check(res.status() < 500, `${username}: ${href} answers (${res.status()})`);
    await audit(page, `${username} ${href}`);
    await shoot(page, `crawl-${username}-${href.replace(/[^a-z0-9]+/gi, '_')}`);
  }
}

// ---------------------------------------------------------------------------------------
// The scenario.

async function main() {
  const browser = await chromium.launch({
    executablePath: BROWSER,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  try {
    // The login page, anonymous; the policy of every page forbids inline script.
    {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      const res = await visit(page, '/login', 'login');
      const csp = res.headers()['content-security-policy'] || '';
      check(/default-src 'none'/.test(csp), 'CSP: default-src none');
      check(!/script-src/.test(csp) && !/unsafe-inline/.test(csp), 'CSP: no script source at all, no unsafe-inline');
      // A page that tried an inline script would be blocked: the browser says so.
      const blocked = await page.evaluate(() => {
        const s = document.createElement('script');
        s.textContent = 'window.__ran = true';
        document.body.appendChild(s);
        return window.__ran === true;
      });
      check(!blocked, 'an inline script does not run under the policy');
      await context.close();
    }

    // 1. The referrer enrols, logs in with TOTP and files a referral with consent.
    const referrer = await enrolAndLogin(browser, 'iscg.martin');
    const rp = referrer.page;
    await visit(rp, '/referrals/new', 'new-step1');
    const in90 = new Date(Date.now() + 90 * 86400e3).toISOString().slice(0, 10);
    const fillStep1 = async (recipients) => {
      await rp.selectOption('#to_org', 'avec63');
      await rp.selectOption('#purpose', 'psychological_support');
      await rp.check('#urgency_high');
      for (const r of ['avec63', 'chambre-vif', 'cidff63']) {
        if (recipients.includes(r)) await rp.check(`#rcpt_${r}`);
        else await rp.uncheck(`#rcpt_${r}`);
      }
      await rp.check('#cp_psychological_support');
      await rp.check('#cp_court_proceedings');
      for (const c of ['identity', 'contact', 'narrative', 'risk']) await rp.check(`#cat_${c}`);
      await rp.fill('#until', in90);
      await rp.check('#method_oral');
      await rp.fill('#grid_yes', '6');
      await rp.fill('#grid_red', '1');
      await Promise.all([rp.waitForLoadState('load'), rp.click('main form button[type=submit]')]);
    };
    // First with a consent that does not name the receiving organisation: refused in
    // plain French, nothing typed is lost.
    await fillStep1(['cidff63']);
    check((await rp.textContent('h2')).includes('Étape 2'), 'step 2 is reached');
    check((await rp.$('#medical')) === null, 'step 2 offers no field the consent does not cover (medical)');
    await landed(rp, 'new-step2');
    await rp.fill('#name', 'Camille Exemple');
    await rp.fill('#birth_date', '1990-04-12');
    await rp.fill('#phone', '06 00 00 00 63');
    await rp.selectOption('#channel', 'sms');
    await rp.fill('#hours', 'en semaine de 9 h à 11 h');
    await rp.fill('#code_word', 'tournesol');
    await rp.fill('#narrative', 'Violences répétées depuis deux ans.');
    await rp.fill('#risk', 'Menaces de mort la semaine dernière.');
    const refused = await Promise.all([
      rp.waitForResponse((r) => r.url().endsWith('/referrals/new') && r.request().method() === 'POST'),
      rp.click('button[value=send]'),
    ]);
    check(refused[0].status() === 422, 'a consent that does not name the receiver is refused (422)');
    await rp.waitForLoadState('load');
    const refusal = await rp.textContent('#form-errors');
    check(refusal.includes("n'a pas accepté"), 'the refusal is explained in plain French');
    check(!/consent-recipient/.test(refusal), 'no raw error code is shown');
    check((await rp.inputValue('#narrative')) === 'Violences répétées depuis deux ans.', 'the typed notes are kept');
    await landed(rp, 'new-refused');
    // Back to step 1, fix the recipients, forward again: step 2 still holds the typing.
    await Promise.all([rp.waitForLoadState('load'), rp.click('button[value=back]')]);
    await fillStep1(['avec63', 'chambre-vif']);
    check((await rp.inputValue('#name')) === 'Camille Exemple', 'going back loses nothing');
    await Promise.all([rp.waitForURL(/\/referrals\/[0-9a-f-]{36}/), rp.click('button[value=send]')]);
    const referralUrl = new URL(rp.url());
    const referralPath = referralUrl.pathname;
    check(/referrals\/[0-9a-f-]{36}$/.test(referralPath), 'the referral is filed');
    check(!referralUrl.search.includes('Camille'), 'no content in the URL');
    check((await rp.textContent('#notice')).includes('envoyée'), 'the filing is confirmed');
    const reference = (await rp.textContent('#reference')).trim();
    // The case the referral belongs to (the withdrawal form names it): the auditor's key.
    const caseId = await rp.getAttribute('input[name=case_id]', 'value');
    check(/^[0-9a-f-]{36}$/.test(caseId || ''), 'the referral names its case');
    await landed(rp, 'referral-sender');
    await visit(rp, `${referralPath}/receipt`, 'receipt');
    const receipt = await rp.textContent('main');
    check(receipt.includes('Vous pouvez changer d'), 'the receipt says she may change her mind');
    check(!receipt.includes('Camille') && !receipt.includes('06 00'), 'the receipt carries no personal detail');

    // 2. The psychologist sees it in her inbox (metadata only), opens, accepts, replies,
    // forwards to the chamber with fewer categories.
    const psy = await enrolAndLogin(browser, 'psy.bernard');
    const pp = psy.page;
    await visit(pp, '/inbox', 'inbox-psy');
    const inbox = await pp.textContent('main');
    check(inbox.includes(reference), 'the referral is in the inbox');
    check(!inbox.includes('Camille'), 'the inbox shows metadata only');
    await Promise.all([pp.waitForLoadState('load'), pp.click(`a:text("${reference}")`)]);
    await landed(pp, 'referral-psy-opened');
    check((await pp.textContent('#person')).includes('Camille Exemple'), 'the receiver reads the content');
    await Promise.all([pp.waitForURL(/done=accepted/), pp.click('#accept')]);
    await landed(pp, 'referral-psy-accepted');
    await pp.fill('#body', 'Bien reçu, je la rappelle demain matin.');
    await Promise.all([pp.waitForURL(/done=message/), pp.click('#send-message')]);
    check((await pp.textContent('#messages')).includes('je la rappelle'), 'the reply is in the thread');
    await landed(pp, 'referral-psy-message');
    // An attachment: uploaded (multipart, streamed to the sealing stream), then downloaded.
    await pp.setInputFiles('#file', {
      name: 'attestation.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('Attestation de prise en charge AVEC 63'),
    });
    await Promise.all([pp.waitForURL(/done=file/), pp.click('#upload')]);
    check((await pp.textContent('#files')).includes('attestation.txt'), 'the attachment is listed');
    await landed(pp, 'referral-psy-file');
    const [download] = await Promise.all([pp.waitForEvent('download'), pp.click('#files a')]);
    const got = readFileSync(await download.path(), 'utf8');
    check(got === 'Attestation de prise en charge AVEC 63', 'the attachment downloads as it was sent');
    // The forward offers only the categories the consent covers.
    const offered = await pp.$$eval('#forward-form input[type=checkbox]', (xs) => xs.map((x) => x.name).sort());
    check(JSON.stringify(offered) === JSON.stringify(['fcat_contact', 'fcat_identity', 'fcat_narrative', 'fcat_risk']),
      `the forward offers the consented categories only (${offered})`);
    await pp.selectOption('#fwd_to', 'chambre-vif');
    await pp.selectOption('#fwd_purpose', 'court_proceedings');
    await pp.check('#fcat_identity');
    await pp.fill('#fwd_note', 'Audience à prévoir.');
    await Promise.all([pp.waitForURL(/done=forwarded/), pp.click('#forward')]);
    await landed(pp, 'referral-psy-forwarded');
    // …and closes her own referral with an outcome.
    await pp.selectOption('#outcome', 'referred_elsewhere');
    await Promise.all([pp.waitForURL(/done=closed/), pp.click('button:text("Clore")')]);
    check((await pp.textContent('#history')).includes('Orientée ailleurs'), 'closed with its outcome');
    await landed(pp, 'referral-psy-closed');

    // CSRF: the same form without its token is refused.
    const noToken = await psy.context.request.post(new URL(`${referralPath}/action`, BASE).href, {
      form: { do: 'message', body: 'sans jeton' },
      headers: { origin: BASE },
      maxRedirects: 0,
    });
    check(noToken.status() === 403, `a form posted without its CSRF token is refused (${noToken.status()})`);

    // 3. The chamber's clerk sees only the forwarded categories and the safety profile.
    const clerk = await enrolAndLogin(browser, 'greffe.vif');
    const cp = clerk.page;
    await visit(cp, '/inbox', 'inbox-clerk');
    const links = await cp.$$eval('#referral-list a', (as) => as.map((a) => a.getAttribute('href')));
    check(links.length === 1, 'the clerk has one referral');
    await Promise.all([cp.waitForLoadState('load'), cp.click('#referral-list a')]);
    await landed(cp, 'referral-clerk');
    const person = await cp.textContent('#person');
    check(person.includes('Camille Exemple'), 'the clerk reads the identity (forwarded)');
    check(!person.includes('06 00'), 'the clerk does not get the phone (not forwarded)');
    const notes = await cp.textContent('#notes');
    check(!notes.includes('Violences') && !notes.includes('Menaces'), 'the clerk does not get the notes');
    check(notes.includes('Audience à prévoir'), "the clerk reads the forwarding organisation's note");
    const safety = await cp.textContent('#safety');
    check(safety.includes('SMS') && safety.includes('tournesol'), 'the clerk gets the safe-contact profile');
    // The clerk declines, with a reason and an organisation that could help.
    await cp.fill('#reason', 'Aucune procédure ouverte à ce jour.');
    await cp.selectOption('#suggested_org', 'cidff63');
    await Promise.all([cp.waitForURL(/done=declined/), cp.click('button:text("Refuser")')]);
    const declined = await cp.textContent('#history');
    check(declined.includes('Aucune procédure') && declined.includes('cidff63'), 'declined with its reason and suggestion');
    await landed(cp, 'referral-clerk-declined');

    // 4. The auditor verifies the log, reads the case's access report, searches the events
    // with a filter and downloads the export; no victim string on any of these pages.
    const auditor = await enrolAndLogin(browser, 'dpo.audit');
    const ap = auditor.page;
    const noVictimString = async (where) => {
      const html = await ap.content();
      const found = VICTIM_STRINGS.filter((v) => html.includes(v));
      check(found.length === 0, `${where} shows no victim string${found.length ? ` (${found.length} found)` : ''}`);
    };
    {
      const res = await visit(ap, '/audit/verify', 'audit-verify');
      check(res.status() === 200, '/audit/verify answers');
      check((await ap.textContent('#verify-result')).includes('Le journal est intact'), 'the log verifies');
      const size = Number((await ap.textContent('#head-size')).trim());
      check(Number.isInteger(size) && size > 0, `the signed head's size is shown (${size})`);
      const root = (await ap.textContent('#head-root')).trim();
      check(/^[0-9a-f]{64}$/.test(root), "the signed head's root is shown");
      // The signed checkpoint (origin, size, base64 root, signature) is that same head.
      const [, cpSize, cpRoot] = (await ap.textContent('#checkpoint')).split('\n');
      check(cpSize === String(size) && Buffer.from(cpRoot, 'base64').toString('hex') === root,
        'the signed checkpoint carries the same size and root');
      await noVictimString('/audit/verify');
    }
    {
      const res = await visit(ap, `/audit/cases/${caseId}`, 'audit-case-report');
      check(res.status() === 200, "the case's access report answers");
      const rows = await ap.$$eval('main table tbody tr', (trs) =>
        trs.map((tr) => [...tr.cells].map((c) => c.textContent.trim())),
      );
      // Columns: seq, at, actor, organisation, action, target, basis, outcome.
      const reads = (org) => rows.filter((r) => r[3] === org && r[4] === 'referral.read');
      check(reads('avec63').length > 0, "the report lists the psychologist's organisation's reads");
      check(reads('chambre-vif').length > 0, "the report lists the clerk's organisation's reads");
      check(rows.some((r) => r[3] === 'commissariat-clermont' && r[4] === 'referral.filed'), 'the report lists the filing');
      check(!rows.some((r) => r[3] === 'cidff63'), 'no read by an organisation that never opened it');
      await noVictimString('the access report');
    }
    {
      await visit(ap, '/audit', 'audit-search');
      await noVictimString('/audit');
      await ap.fill('#case_id', caseId);
      await ap.selectOption('#action', 'referral.read');
      await Promise.all([ap.waitForURL(/\/audit\?.*case_id=/), ap.click('main form[role=search] button[type=submit]')]);
      await landed(ap, 'audit-search-filtered');
      const rows = await ap.$$eval('main table tbody tr', (trs) =>
        trs.map((tr) => [...tr.cells].map((c) => c.textContent.trim())),
      );
      // Columns: seq, at, actor, organisation, role, action, target, case, outcome, basis.
      check(rows.length > 0, `the filtered search finds the case's reads (${rows.length})`);
      check(rows.every((r) => r[5] === 'referral.read' && r[7] === caseId), 'every row matches the filter');
      check(new Set(rows.map((r) => r[3])).has('chambre-vif'), "the clerk's read is among them");
      check((await ap.getAttribute(`main a[href="/audit/cases/${caseId}"]`, 'href')) !== null, 'the search links to the access report');
      await noVictimString('the filtered search');
      // A filter core refuses: a French sentence, not a raw code.
      const bad = await ap.goto(new URL('/audit?case_id=pas-un-dossier', BASE).href);
      check(bad.status() === 400, 'a malformed case id is refused (400)');
      check((await ap.textContent('#search-error')).trim().length > 0, 'with a sentence');
      await audit(ap, 'audit-search-refused');
      await shoot(ap, 'audit-search-refused');
    }
    {
      await visit(ap, '/audit', 'audit-export');
      const [download] = await Promise.all([
        ap.waitForEvent('download'),
        ap.click('form[action="/audit/export"] button'),
      ]);
      check(/^passerelle-audit-\d+\.jsonl$/.test(download.suggestedFilename()), `the export is a JSON Lines file (${download.suggestedFilename()})`);
      const lines = readFileSync(await download.path(), 'utf8').split('\n').filter((l) => l.length > 0);
      check(lines.length > 0 && lines.every((l) => { try { JSON.parse(l); return true; } catch { return false; } }),
        `every line of the export is JSON (${lines.length})`);
      check(lines.some((l) => l.includes(caseId)), 'the export holds the case');
      const leaked = VICTIM_STRINGS.filter((v) => lines.some((l) => l.includes(v)));
      check(leaked.length === 0, 'the export holds no victim string');
      // The export is itself recorded, by the auditor.
      await visit(ap, '/audit?action=audit.exported&actor=dpo.audit', 'audit-exported-event');
      const rows = await ap.$$eval('main table tbody tr', (trs) => trs.length);
      check(rows >= 1, 'the export is in the log (audit.exported)');
      await noVictimString('the export event');
    }

    // 5. A user of another organisation cannot reach the referral by its URL: the same
    // page as an unknown id.
    const outsider = await enrolAndLogin(browser, 'accueil.cidff');
    const op = outsider.page;
    const other = await visit(op, referralPath, 'referral-outsider');
    const otherText = await op.textContent('main');
    const unknown = await op.goto(new URL('/referrals/00000000-0000-4000-8000-000000000000', BASE).href);
    const unknownText = await op.textContent('main');
    check(other.status() === 404 && unknown.status() === 404, 'another organisation gets 404');
    check(otherText === unknownText, 'the same page as an unknown id');
    check(!otherText.includes('Camille') && !otherText.includes(reference), 'nothing of the referral shows');

    // 6. The 226-14 3° report: refused to a referrer who is not a health professional, filed
    // by the emergency physician with the legal conditions, then the "inform her" task.
    {
      const res = await rp.goto(new URL('/reports/new', BASE).href);
      check(res.status() === 403, 'the report page is refused to a non-health professional');
      check((await rp.textContent('main')).includes('professionnels de santé'), 'with a clear sentence');
    }
    const doctor = await enrolAndLogin(browser, 'dr.urgences');
    const dp = doctor.page;
    await visit(dp, '/reports/new', 'report-new');
    await dp.check('#cond_adult');
    await dp.check('#cond_danger');
    await dp.fill('#agreement_sought', "Proposé deux fois aux urgences, elle a refusé par peur.");
    await dp.fill('#justification', 'Strangulation, menaces de mort, retour prévu au domicile.');
    await dp.selectOption('#to_org', 'parquet-clermont');
    await dp.fill('#name', 'Dominique Exemple');
    await dp.fill('#birth_date', '1985-02-03');
    await dp.fill('#medical', 'Hématomes cervicaux.');
    const incomplete = await Promise.all([
      dp.waitForResponse((r) => r.url().endsWith('/reports/new') && r.request().method() === 'POST'),
      dp.click('main form button[type=submit]'),
    ]);
    check(incomplete[0].status() === 422, 'a report without every legal condition is refused');
    await dp.waitForLoadState('load');
    check((await dp.inputValue('#justification')).startsWith('Strangulation'), 'the report form keeps its values');
    await landed(dp, 'report-refused');
    await dp.check('#cond_emprise');
    await Promise.all([dp.waitForURL(/done=filed/), dp.click('main form button[type=submit]')]);
    check((await dp.textContent('#tasks')).includes('Informer la personne'), 'the report opens the "inform her" task');
    await landed(dp, 'report-filed');
    const today = new Date().toISOString().slice(0, 10);
    await dp.fill('#tasks input[type=date]', today);
    await dp.selectOption('#tasks select', 'in_person');
    await Promise.all([dp.waitForURL(/done=task/), dp.click('#tasks button')]);
    check((await dp.textContent('#tasks')).includes('fait'), 'the task is closed with date and channel');
    await landed(dp, 'report-task-done');

    // The session expiry path: without a session, a page sends to /login?next=… and back.
    {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      await page.goto(new URL('/inbox', BASE).href);
      const u = new URL(page.url());
      check(u.pathname === '/login' && u.searchParams.get('next') === '/inbox', 'no session: login, then back to the page');
      // A next that leaves the service is not followed.
      await page.goto(new URL('/login?next=//evil.example/x', BASE).href);
      check((await page.inputValue('input[name=next]')) === '/', 'a foreign next is replaced by /');
      await context.close();
    }
    // The admin's and the coordinator's session "expires": logging in again lands back on
    // the page they asked for, query included.
    const admin = await enrolAndLogin(browser, 'admin', '/admin/users');
    const coordinator = await enrolAndLogin(browser, 'coord.halimi', '/coordination?lang=fr');
    check((await coordinator.page.textContent('h1')).length > 0, 'the coordinator dashboard shows');

    // 7. axe on every page of every user's navigation.
    for (const user of [referrer, psy, clerk, auditor, outsider, doctor, admin, coordinator]) await crawl(user);
    for (const p of ['/admin', '/admin/users', '/admin/tokens', '/coordination', '/audit', '/audit/verify', `/audit/cases/${caseId}`]) {
      check(axeSeen.has(p), `axe ran on ${p}`);
    }

    // The person withdraws her consent: the referrer records it.
    await rp.goto(new URL(referralPath, BASE).href);
    await rp.fill('#withdraw_note', "Appel de la personne ce jour, elle retire son accord.");
    await Promise.all([rp.waitForURL(/done=withdrawn/), rp.click('button.danger')]);
    // (Her referral was closed meanwhile: it stays closed; the case's consent is gone.)
    check((await rp.textContent('#notice')).includes("retrait de l'accord"), 'the withdrawal is recorded');
    await landed(rp, 'referral-withdrawn');

    // Logout ends the session.
    await Promise.all([rp.waitForURL(/\/login/), rp.click('header form button')]);
    await landed(rp, 'logged-out');
    await rp.goto(new URL('/sent', BASE).href);
    check(new URL(rp.url()).pathname === '/login', 'after logout the pages ask to log in');

    console.log(`pages audited with axe: ${[...axeSeen].sort().join(' ')}`);
  } finally {
    await browser.close();
  }
}

main().then(
  () => {
    console.log(failures === 0 ? 'browser scenario: all checks passed' : `${failures} failure(s)`);
    process.exit(failures === 0 ? 0 : 1);
  },
  (e) => {
    console.error(`browser scenario failed: ${e.stack || e}`);
    process.exit(1);
  },
);
