// Watching through the SFU (a streamer run with --sfu janus): the server's /config says so. Signaling and
// control go over one WebSocket to /sfu; the points come from Janus on a data channel this page opens
// itself, under the label Janus sends on, unordered and without retransmissions (docs/protocol.md, "SFU").

/**
 * Connect ``conn`` (a StreamConnection) through the SFU: sets ``conn.controlSocket``, ``conn.pc`` and
 * ``conn.points``, and calls ``conn.opened()`` when the point channel opens.
 * @param {import('./connection.js').StreamConnection} conn
 * @param {{iceServers?: RTCIceServer[], iceTransportPolicy?: string}} cfg the server's /config
 * @param {(pc: RTCPeerConnection, ms: number, opts?: {hostOnly?: boolean}) => Promise<void>} waitIceGathering
 */
export function startViaSfu(conn, cfg, waitIceGathering) {
  const url = new URL(`${conn.baseUrl}/sfu`, window.location.href); // /sfu, or /view/NAME/sfu
  url.protocol = url.protocol.replace(/^http/, 'ws');
  const ws = new WebSocket(url.href);
  conn.controlSocket = ws;
  conn.viaSfu = true;
  // the socket's messages are control text, parsed and bounded once by the connection; the SFU's own take this
  // turn first, anything else (a malformed sfuOffer too) goes on to the page's handlers
  conn.interceptControl = (msg) => {
    if (msg.type === 'sfuOffer' && typeof msg.sdp === 'string' && typeof msg.label === 'string') {
      answer(conn, cfg, ws, msg, waitIceGathering).catch((err) => conn.scheduleRetry(err.message || String(err)));
      return true;
    }
    if (msg.type === 'sfuTier') {
      conn.tier = { tier: msg.tier, share: msg.share, reason: msg.reason };
      conn.dispatchEvent(new CustomEvent('tier', { detail: conn.tier }));
      return true;
    }
    return false;
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') conn.controlText(ev.data);
    else conn.controlErrors += 1;
  };
  ws.onclose = () => conn.scheduleRetry('SFU connection closed');
}

async function answer(conn, cfg, ws, offer, waitIceGathering) {
  conn.mark('config');
  const pc = new RTCPeerConnection({
    iceServers: cfg.iceServers || [],
    iceTransportPolicy: cfg.iceTransportPolicy === 'relay' ? 'relay' : 'all',
  });
  conn.pc = pc;
  conn.tier = { tier: offer.tier, share: typeof offer.share === 'number' ? offer.share : null, reason: '' };
  await pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp });
  // Opened here, not by Janus: Janus would open an ordered, reliable channel of its own
  const points = pc.createDataChannel(offer.label, conn.pointsOptions);
  points.binaryType = 'arraybuffer';
  points.onmessage = (ev) => conn.onPoints(ev.data);
  points.onopen = () => {
    conn.mark('open');
    conn.opened();
  };
  conn.points = points;
  conn.watchPeer(pc);
  await pc.setLocalDescription(await pc.createAnswer());
  conn.mark('offer');
  await waitIceGathering(pc, 2000, { hostOnly: !(cfg.iceServers || []).length });
  conn.mark('gathered');
  ws.send(JSON.stringify({ type: 'sfuAnswer', sdp: pc.localDescription.sdp }));
  conn.mark('answered');
  conn.mark('checking'); // both descriptions are set: ICE, DTLS and SCTP run off the page's main thread now
}
