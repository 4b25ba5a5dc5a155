// A JsSIP user agent (the SIP stack browser softphones use) in Node over a WebSocket, for
// tests/tests/websocket_e2e.rs: registers as alice, sends one MESSAGE to `to`, waits for one
// MESSAGE, prints what happens on stdout (one line per event) and exits 0 once both went
// through, 1 on failure or after 20 s.
//   node jssip_peer.js <ws-url> <origin> <aor> <password> <to>
'use strict';
const JsSIP = require('jssip');
const NodeWebSocket = require('jssip-node-websocket');

const [url, origin, aor, password, to] = process.argv.slice(2);
const socket = new NodeWebSocket(url, { origin });
const ua = new JsSIP.UA({
  sockets: [socket],
  uri: aor,
  password,
  register: true,
  register_expires: 300,
  session_timers: false,
  user_agent: 'JsSIP-test',
});
let sent = false;
let received = false;
const done = () => {
  if (sent && received) {
    console.log('DONE');
    ua.stop();
    setTimeout(() => process.exit(0), 300);
  }
};
ua.on('registered', () => {
  console.log('REGISTERED');
  ua.sendMessage(to, 'hello from jssip', {
    eventHandlers: {
      succeeded: () => { console.log('SENT'); sent = true; done(); },
      failed: (e) => { console.log('SEND-FAILED ' + e.cause); process.exit(1); },
    },
  });
});
ua.on('registrationFailed', (e) => {
  console.log('REGISTRATION-FAILED ' + e.cause);
  process.exit(1);
});
ua.on('newMessage', (e) => {
  if (e.originator === 'remote') {
    console.log('RECEIVED ' + e.request.body);
    received = true;
    done();
  }
});
ua.start();
setTimeout(() => { console.log('TIMEOUT'); process.exit(1); }, 20000);
