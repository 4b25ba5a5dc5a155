// A browser softphone for tests/tests/webrtc_e2e.rs: headless Chromium (the Debian build at
// /usr/bin/chromium, driven by puppeteer-core; no browser is downloaded) runs a page with JsSIP
// (bundled for the browser by esbuild at start) whose microphone is Chromium's fake capture
// device playing <wav>. The page registers over WSS, calls <target>, keeps the call <hold_s>
// seconds, reads the WebRTC statistics and hangs up; then waits for a call, answers it, reads
// the statistics before the caller hangs up. Everything stays on loopback.
//
// Prints `key value` lines: register, out_call, out_rx_packets, out_rx_energy, out_tx_packets,
// out_dtls, in_call, in_rx_packets, in_rx_energy, in_tx_packets, in_dtls, then `done`. Exits 0
// whatever the outcomes (the test judges them), 2 on a usage error; bounded (about 60 s).
//   node webrtc_browser.js <wss-url> <aor> <password> <target> <wav> <dir> [hold_s]
'use strict';
const fs = require('fs');
const path = require('path');
const esbuild = require('esbuild');
const puppeteer = require('puppeteer-core');

const [url, aor, password, target, wav, dir, holdArg] = process.argv.slice(2);
if (!dir) {
  console.error('usage: webrtc_browser.js <wss-url> <aor> <password> <target> <wav> <dir> [hold_s]');
  process.exit(2);
}
const holdMs = Number(holdArg || 4) * 1000;
const say = (k, v) => console.log(`${k} ${v}`);

// The page: JsSIP as a browser script, and the phone's logic.
esbuild.buildSync({
  entryPoints: [require.resolve('jssip')],
  bundle: true,
  format: 'iife',
  globalName: 'JsSIP',
  platform: 'browser',
  outfile: path.join(dir, 'jssip.js'),
  logLevel: 'error',
});
fs.writeFileSync(
  path.join(dir, 'phone.html'),
  `<!doctype html><meta charset="utf-8"><title>phone</title>
<audio id="remote" autoplay></audio>
<script src="jssip.js"></script>
<script>
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pc = { iceServers: [], rtcpMuxPolicy: 'require', bundlePolicy: 'balanced' };
async function stats(session) {
  const out = { rx_packets: 0, rx_energy: 0, tx_packets: 0, dtls: 'none' };
  const conn = session && session.connection;
  if (!conn) return out;
  const report = await conn.getStats();
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      out.rx_packets += s.packetsReceived || 0;
      out.rx_energy += s.totalAudioEnergy || 0;
    }
    if (s.type === 'outbound-rtp' && s.kind === 'audio') out.tx_packets += s.packetsSent || 0;
    if (s.type === 'transport' && s.dtlsState) out.dtls = s.dtlsState;
  });
  return out;
}
function play(session) {
  session.connection.addEventListener('track', (e) => {
    document.getElementById('remote').srcObject = e.streams[0];
  });
}
function settle(session) {
  return new Promise((res) => {
    session.on('confirmed', () => res('CONFIRMED'));
    session.on('failed', (e) => res('failed:' + (e.cause || '?')));
  });
}
window.runPhone = async (cfg) => {
  const r = {};
  const ua = new JsSIP.UA({
    sockets: [new JsSIP.WebSocketInterface(cfg.url)],
    uri: cfg.aor,
    password: cfg.password,
    register: true,
    session_timers: false,
    user_agent: 'JsSIP-chromium-test',
  });
  let incoming;
  const ringing = new Promise((res) => { incoming = res; });
  ua.on('newRTCSession', (e) => { if (e.originator === 'remote') incoming(e.session); });
  const registered = new Promise((res) => {
    ua.on('registered', () => res('200'));
    ua.on('registrationFailed', (e) => res('failed:' + (e.cause || '?')));
  });
  ua.start();
  r.register = await Promise.race([registered, sleep(10000).then(() => 'timeout')]);
  if (r.register !== '200') return r;

  const out = ua.call(cfg.target, { mediaConstraints: { audio: true, video: false }, pcConfig: pc });
  play(out);
  r.out_call = await Promise.race([settle(out), sleep(15000).then(() => 'timeout')]);
  if (r.out_call === 'CONFIRMED') {
    await sleep(cfg.holdMs);
    const s = await stats(out);
    r.out_rx_packets = s.rx_packets; r.out_rx_energy = s.rx_energy;
    r.out_tx_packets = s.tx_packets; r.out_dtls = s.dtls;
    out.terminate();
  }

  const inc = await Promise.race([ringing, sleep(20000).then(() => null)]);
  if (!inc) { r.in_call = 'no-call'; return r; }
  const answered = settle(inc);
  inc.answer({ mediaConstraints: { audio: true, video: false }, pcConfig: pc });
  play(inc);
  r.in_call = await Promise.race([answered, sleep(15000).then(() => 'timeout')]);
  if (r.in_call === 'CONFIRMED') {
    // The caller hangs up after a few seconds: read the statistics before that.
    await sleep(Math.max(1500, cfg.holdMs - 1500));
    const s = await stats(inc);
    r.in_rx_packets = s.rx_packets; r.in_rx_energy = s.rx_energy;
    r.in_tx_packets = s.tx_packets; r.in_dtls = s.dtls;
    await Promise.race([new Promise((res) => inc.on('ended', res)), sleep(8000)]);
  }
  ua.stop();
  return r;
};
</script>
`,
);

(async () => {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    userDataDir: path.join(dir, 'profile'),
    args: [
      '--no-sandbox',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${wav}`,
      // The SBC's media is on 127.0.0.1: let WebRTC use the loopback interface, with real
      // addresses in its candidates rather than mDNS names.
      '--allow-loopback-in-peer-connection',
      '--disable-features=WebRtcHideLocalIpsWithMdns',
      '--autoplay-policy=no-user-gesture-required',
      // The test's own CA signed the SBC's certificate.
      '--ignore-certificate-errors',
      '--no-first-run',
      '--disable-gpu',
    ],
  });
  const watchdog = setTimeout(() => {
    say('error', 'timeout');
    say('done', '1');
    process.exit(0);
  }, 75000);
  try {
    const page = await browser.newPage();
    page.on('console', (m) => fs.appendFileSync(path.join(dir, 'console.log'), m.text() + '\n'));
    page.on('pageerror', (e) => say('page_error', String(e).replace(/\s+/g, '_')));
    await page.goto('file://' + path.join(dir, 'phone.html'));
    const r = await page.evaluate(
      (cfg) => window.runPhone(cfg),
      { url, aor, password, target, holdMs },
    );
    for (const [k, v] of Object.entries(r)) say(k, v);
  } catch (e) {
    say('error', String(e).replace(/\s+/g, '_'));
  }
  clearTimeout(watchdog);
  await browser.close();
  say('done', '1');
})();
