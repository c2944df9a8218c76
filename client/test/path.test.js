// Where the page signals, and how the HUD names the network path.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { signalingBase } from '../src/connection.js';
import { describePath } from '../src/hud.js';

test('a /view/NAME page signals through the rendezvous server under that name', () => {
  assert.deepEqual(signalingBase('/view/car1'), { baseUrl: '/view/car1', stream: 'car1' });
  assert.deepEqual(signalingBase('/view/car-2.b/'), { baseUrl: '/view/car-2.b', stream: 'car-2.b' });
});

test('any other page signals with the single-host streamer', () => {
  for (const path of ['/', '/index.html', '/view/', '/view/a/b']) {
    assert.deepEqual(signalingBase(path), { baseUrl: '', stream: null }, path);
  }
});

test('the path names both candidate types, the TURN transport, and whether it is direct', () => {
  assert.equal(describePath(null), '–');
  assert.equal(describePath({ local: 'host', remote: 'host', protocol: 'udp', relayProtocol: null }),
    'host → host (direct)');
  assert.equal(describePath({ local: 'srflx', remote: 'prflx', protocol: 'udp', relayProtocol: null }),
    'srflx → prflx (direct)');
  assert.equal(describePath({ local: 'relay', remote: 'srflx', protocol: 'udp', relayProtocol: 'tcp' }),
    'relay (tcp) → srflx');
  assert.equal(describePath({ local: 'host', remote: 'relay', protocol: 'udp', relayProtocol: null }),
    'host → relay');
});

test('a token in the address is removed from it, the rest kept', async () => {
  const { forgetTokenInAddress } = await import('../src/address.js');
  const calls = [];
  const history = { state: null, replaceState: (state, title, url) => calls.push(url) };
  assert.equal(forgetTokenInAddress({ href: 'https://h:8443/view/car1?token=abc&reliable=1#x' }, history), true);
  assert.deepEqual(calls, ['/view/car1?reliable=1#x']);
  assert.equal(forgetTokenInAddress({ href: 'https://h:8443/?reliable=1' }, history), false);
  assert.equal(calls.length, 1);
});

test('malformed control text is ignored and counted, objects with a type are passed on', async () => {
  const { StreamConnection } = await import('../src/connection.js');
  const got = [];
  const conn = new StreamConnection({ onPoints: () => {}, onControl: (m) => got.push(m.type) });
  for (const text of ['{broken', '[1,2]', 'null', '{"no":"type"}', '{"type":5}', 'x'.repeat(70000)]) conn.controlText(text);
  conn.controlText('{"type":"stats","fps":1}');
  assert.equal(conn.controlErrors, 6);
  assert.deepEqual(got, ['stats']);
});
