// The browser side of the lab's Chromium session (SPEC section 9). The harness calls
//   jcPrepare(offerSdp) -> the answer's SDP (ufrag, pwd, fingerprint for the bridge), then
//   jcRun({message, timeoutMs}) -> {ok, stage, reason, echo, pair, ms, events}.
// ICE starts only in jcRun (setLocalDescription), after the bridge was told the answer.
// Nothing is given but the offer: no STUN/TURN servers, no candidates of ours to anyone.
'use strict';
const t0 = performance.now();
const events = [];
const note = (what, detail = {}) =>
  events.push({ t: Math.round(performance.now() - t0), what, ...detail });
let pc = null;
let answer = null;

// Records the first failure of each layer as it happens: by the time anyone looks, later
// teardown (DTLS 'closed' after an SCTP ABORT) hides the cause.
function watch(pc, dc) {
  let first = null;
  let closing = false;
  const fail = (stage, reason) => {
    if (closing || first) return;
    first = { stage, reason };
    note('failure', { stage, reason });
  };
  const hooked = new WeakSet();
  const hook = () => {
    const sctp = pc.sctp, dtls = sctp?.transport, ice = dtls?.iceTransport;
    if (ice && !hooked.has(ice)) {
      hooked.add(ice);
      ice.addEventListener('statechange', () => note('ice', { state: ice.state }));
    }
    if (dtls && !hooked.has(dtls)) {
      hooked.add(dtls);
      dtls.addEventListener('statechange', () => {
        note('dtls', { state: dtls.state });
        if (dtls.state === 'failed') fail('dtls', 'DTLS failed (a handshake error, an alert, or the certificate fingerprint does not match)');
        if (dtls.state === 'closed') fail('dtls', 'DTLS closed by the peer');
      });
      dtls.addEventListener('error', ({ error: e }) =>
        fail('dtls', `${e?.errorDetail}: ${e?.message} receivedAlert=${e?.receivedAlert} sentAlert=${e?.sentAlert}`));
    }
    if (sctp && !hooked.has(sctp)) {
      hooked.add(sctp);
      sctp.addEventListener('statechange', () => {
        note('sctp', { state: sctp.state });
        // A DTLS failure closes SCTP a moment before DTLS reports it: let DTLS speak first.
        if (sctp.state === 'closed') setTimeout(() => {
          const d = sctp.transport.state;
          fail(d === 'connected' ? 'sctp' : 'dtls', `SCTP closed while DTLS is ${d}`);
        }, 100);
      });
    }
  };
  pc.addEventListener('signalingstatechange', hook);
  pc.addEventListener('connectionstatechange', () => {
    hook();
    note('pc', { state: pc.connectionState });
    if (pc.connectionState === 'failed' && !['connected', 'completed'].includes(pc.iceConnectionState))
      fail('ice', `ICE ${pc.iceConnectionState}: no candidate pair got a STUN response`);
  });
  dc.addEventListener('error', ({ error: e }) =>
    fail(e?.errorDetail === 'sctp-failure' ? 'sctp' : 'echo',
         `${e?.errorDetail} sctpCauseCode=${e?.sctpCauseCode}: ${e?.message}`));
  dc.addEventListener('close', () => fail('echo', 'the data channel closed'));
  hook();

  // The first recorded failure, else the first layer that is not up.
  async function diagnose() {
    if (first) return first;
    const stats = [...(await pc.getStats()).values()];
    const t = stats.find((s) => s.type === 'transport') ?? {};
    const ice = t.iceState ?? pc.iceConnectionState;
    if (ice !== 'connected' && ice !== 'completed') {
      const pairs = stats.filter((s) => s.type === 'candidate-pair');
      const sent = pairs.reduce((n, p) => n + (p.requestsSent ?? 0), 0);
      const got = pairs.reduce((n, p) => n + (p.responsesReceived ?? 0), 0);
      const checks = pairs.reduce((n, p) => n + (p.requestsReceived ?? 0), 0);
      return { stage: 'ice', reason: `ICE ${ice}: ${pairs.length} pairs, ${sent} checks sent, ` +
               `${got} responses, ${checks} checks received from the bridge` };
    }
    const dtls = t.dtlsState ?? pc.sctp?.transport?.state;
    if (dtls !== 'connected') return { stage: 'dtls', reason: `DTLS ${dtls} while ICE is connected` };
    if (pc.sctp?.state !== 'connected') return { stage: 'sctp', reason: `SCTP ${pc.sctp?.state ?? 'absent'} while DTLS is connected` };
    if (dc.readyState !== 'open') return { stage: 'sctp', reason: `the data channel is ${dc.readyState}` };
    return { stage: 'echo', reason: 'the data channel is open but no message came back' };
  }
  return { diagnose, close: () => { closing = true; } };
}

// The selected candidate pair as Chromium's own stats report it.
async function selectedPair(pc) {
  const stats = [...(await pc.getStats()).values()];
  const byId = (id) => stats.find((s) => s.id === id);
  const t = stats.find((s) => s.type === 'transport') ?? {};
  const p = byId(t.selectedCandidatePairId) ??
    stats.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
  if (!p) return null;
  const end = (id) => {
    const c = byId(id) ?? {};
    return { address: c.address ?? c.ip, port: c.port, type: c.candidateType, protocol: c.protocol };
  };
  return { local: end(p.localCandidateId), remote: end(p.remoteCandidateId), state: p.state,
           dtlsRole: t.dtlsRole, srtpCipher: t.srtpCipher, tlsVersion: t.tlsVersion,
           dtlsCipher: t.dtlsCipher, iceRole: t.iceRole };
}

window.jcPrepare = async (offerSdp) => {
  pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
  await pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
  answer = await pc.createAnswer();
  note('answer');
  return answer.sdp;
};

window.jcRun = async ({ message, timeoutMs }) => {
  const start = performance.now();
  const dc = pc.createDataChannel('jc-echo');
  const w = watch(pc, dc);
  await pc.setLocalDescription(answer);
  note('local-description');
  const result = await new Promise((resolve) => {
    const done = async (ok, extra) => {
      resolve({ ok, ...extra });
    };
    const timer = setTimeout(async () => done(false, await w.diagnose()), timeoutMs);
    dc.addEventListener('open', () => {
      note('open');
      dc.send(message);
    });
    dc.addEventListener('message', (e) => {
      note('message');
      clearTimeout(timer);
      done(e.data === message, e.data === message
        ? { stage: 'ok', reason: 'the message came back', echo: e.data }
        : { stage: 'echo', reason: `a different message came back: ${String(e.data).slice(0, 80)}`, echo: String(e.data) });
    });
  });
  result.pair = await selectedPair(pc);
  result.ms = Math.round(performance.now() - start);
  result.events = events;
  w.close();
  pc.close();
  return result;
};
