"""Telephony: Twilio webhooks and signature checks, IVR, calls, queue and router, presence,
conference bridging, recordings, outbound callbacks, voice tokens, the Twilio gateway and the
carrier simulator."""
