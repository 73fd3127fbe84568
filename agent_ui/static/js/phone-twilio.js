/*
 * The agent's browser phone on real Twilio, through the vendored Voice SDK
 * (static/vendor/twilio-voice-sdk-2.18.5/twilio.min.js, loaded first; it sets window.Twilio.Device).
 * Same interface as phone.js (the demo's simulated phone), so the desktop does not care which runs:
 *
 *   const phone = HotlinePhone.start({onState, onError});   // registers the phone
 *   phone.answer(); phone.decline(); phone.hangup(); phone.mute(true|false); phone.stop();
 *   onState({state: "idle" | "ringing" | "active", callSid, from})
 *
 * Which one to load: GET /api/v1/voice/token says `mode`: "twilio" loads this file, "simulator"
 * loads phone.js. The token is the signed-in agent's own (identity agent_<id>), valid one hour, and
 * renewed here before it runs out. The caller shown is the hotline's number, never a customer's.
 */
(function () {
  "use strict";

  const TOKEN_URL = "/api/v1/voice/token";

  async function fetchToken() {
    const response = await fetch(TOKEN_URL, {credentials: "same-origin", headers: {Accept: "application/json"}});
    if (!response.ok) {
      let detail = "The browser phone could not get its access token.";
      try { detail = (await response.json()).detail || detail; } catch (_) { /* keep the default */ }
      throw new Error(detail);
    }
    return response.json();
  }

  function start(options) {
    const onState = options.onState || function () {};
    const onError = options.onError || function (error) { console.error(error); };
    let device = null;
    let current = null;  // the Twilio Call ringing or in progress
    let stopped = false;

    function report(state, call) {
      const params = call ? call.parameters || {} : {};
      onState({state: state, callSid: params.CallSid || null, from: params.From || null});
    }

    function follow(call) {
      current = call;
      report("ringing", call);
      call.on("accept", function () { report("active", call); });
      for (const ending of ["disconnect", "cancel", "reject"]) {
        call.on(ending, function () {
          if (current === call) { current = null; }
          report("idle", null);
        });
      }
      call.on("error", function (error) { onError(error); });
    }

    (async function register() {
      try {
        const issued = await fetchToken();
        if (issued.mode !== "twilio") {
          throw new Error("This hub talks to the carrier simulator: load phone.js instead of phone-twilio.js.");
        }
        if (stopped) { return; }
        device = new window.Twilio.Device(issued.token, {closeProtection: true, codecPreferences: ["opus", "pcmu"]});
        device.on("incoming", follow);
        device.on("error", function (error) { onError(error); });
        device.on("tokenWillExpire", async function () {
          try { device.updateToken((await fetchToken()).token); } catch (error) { onError(error); }
        });
        await device.register();
        report("idle", null);
      } catch (error) {
        onError(error);
      }
    })();

    return {
      answer: function () { if (current) { current.accept(); } },
      decline: function () { if (current) { current.reject(); } },
      hangup: function () { if (current) { current.disconnect(); } else if (device) { device.disconnectAll(); } },
      mute: function (on) { if (current) { current.mute(Boolean(on)); } },
      stop: function () {
        stopped = true;
        if (device) { device.destroy(); device = null; }
        current = null;
      },
    };
  }

  window.HotlinePhone = {start: start, kind: "twilio"};
})();
