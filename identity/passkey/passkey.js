// passkey.js: the browser half of Kassa's passkey ceremonies.
//
// The server's Begin* calls return options as JSON, with every binary
// field (challenge, user.id, credential ids) in base64url. WebAuthn wants
// ArrayBuffers there, and answers with ArrayBuffers that the server wants
// back in base64url. This file converts both ways and nothing else: it has
// no inline parts and uses no eval, so it runs under a strict CSP.
//
//   const cred = await kassaPasskey.create(options);  // registration
//   const cred = await kassaPasskey.get(options);     // login, step-up
//   // then POST {ceremony_id, response: cred} to the server as JSON.
//
// Both reject with the browser's DOMException when the payer cancels or
// the authenticator cannot do what was asked (NotAllowedError,
// InvalidStateError for an authenticator registered already, ...).
"use strict";
(function (global) {
  // b64urlToBuf decodes base64url (padded or not) into an ArrayBuffer.
  function b64urlToBuf(s) {
    if (typeof s !== "string") {
      throw new TypeError("kassaPasskey: expected a base64url string");
    }
    let b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4 !== 0) {
      b64 += "=";
    }
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) {
      bytes[i] = bin.charCodeAt(i);
    }
    return bytes.buffer;
  }

  // bufToB64url encodes an ArrayBuffer or a view of one as unpadded
  // base64url.
  function bufToB64url(buf) {
    const bytes = ArrayBuffer.isView(buf)
      ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
      : new Uint8Array(buf);
    let bin = "";
    for (let i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function parse(options) {
    const o = typeof options === "string" ? JSON.parse(options) : options;
    if (!o || typeof o.publicKey !== "object") {
      throw new TypeError("kassaPasskey: options must be {publicKey: {...}}");
    }
    return o;
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return Object.assign({}, d, { id: b64urlToBuf(d.id) });
    });
  }

  // creationOptions turns the server's registration options into the
  // argument of navigator.credentials.create.
  function creationOptions(options) {
    const o = parse(options);
    const pk = Object.assign({}, o.publicKey);
    pk.challenge = b64urlToBuf(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: b64urlToBuf(pk.user.id) });
    if (pk.excludeCredentials) {
      pk.excludeCredentials = descriptors(pk.excludeCredentials);
    }
    const out = { publicKey: pk };
    if (o.mediation) {
      out.mediation = o.mediation;
    }
    return out;
  }

  // requestOptions turns the server's login options into the argument of
  // navigator.credentials.get.
  function requestOptions(options) {
    const o = parse(options);
    const pk = Object.assign({}, o.publicKey);
    pk.challenge = b64urlToBuf(pk.challenge);
    if (pk.allowCredentials) {
      pk.allowCredentials = descriptors(pk.allowCredentials);
    }
    const out = { publicKey: pk };
    if (o.mediation) {
      out.mediation = o.mediation;
    }
    return out;
  }

  function common(cred) {
    const out = {
      id: cred.id,
      rawId: bufToB64url(cred.rawId),
      type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults(),
    };
    if (cred.authenticatorAttachment) {
      out.authenticatorAttachment = cred.authenticatorAttachment;
    }
    return out;
  }

  // registrationJSON is what the server's FinishRegistration reads.
  function registrationJSON(cred) {
    const r = cred.response;
    const out = common(cred);
    out.response = {
      clientDataJSON: bufToB64url(r.clientDataJSON),
      attestationObject: bufToB64url(r.attestationObject),
      transports: typeof r.getTransports === "function" ? r.getTransports() : [],
    };
    return out;
  }

  // assertionJSON is what the server's FinishLogin reads.
  function assertionJSON(cred) {
    const r = cred.response;
    const out = common(cred);
    out.response = {
      clientDataJSON: bufToB64url(r.clientDataJSON),
      authenticatorData: bufToB64url(r.authenticatorData),
      signature: bufToB64url(r.signature),
    };
    if (r.userHandle && r.userHandle.byteLength > 0) {
      out.response.userHandle = bufToB64url(r.userHandle);
    }
    return out;
  }

  function withSignal(opts, signal) {
    if (signal) {
      opts.signal = signal;
    }
    return opts;
  }

  function supported() {
    return typeof global.PublicKeyCredential === "function" && !!navigator.credentials;
  }

  global.kassaPasskey = {
    // supported reports whether the browser has WebAuthn at all.
    supported: supported,
    // platformAvailable resolves to whether the device itself can verify
    // the payer (fingerprint, face, device PIN).
    platformAvailable: function () {
      if (!supported()) {
        return Promise.resolve(false);
      }
      return global.PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable();
    },
    // create registers a passkey; it resolves to the JSON for the server.
    create: async function (options, signal) {
      const cred = await navigator.credentials.create(withSignal(creationOptions(options), signal));
      return registrationJSON(cred);
    },
    // get proves possession of a passkey; it resolves to the JSON for the
    // server.
    get: async function (options, signal) {
      const cred = await navigator.credentials.get(withSignal(requestOptions(options), signal));
      return assertionJSON(cred);
    },
    creationOptions: creationOptions,
    requestOptions: requestOptions,
    registrationJSON: registrationJSON,
    assertionJSON: assertionJSON,
    b64urlToBuf: b64urlToBuf,
    bufToB64url: bufToB64url,
  };
})(globalThis);
