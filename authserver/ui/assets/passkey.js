// passkey.js: runs the WebAuthn ceremony of a form marked data-passkey="create" or "get".
// The form carries the server's options (data-options, JSON with base64url binary members);
// on submit the script asks the browser for a passkey, puts the answer (JSON, base64url) in
// the hidden credential input and submits the form. Without WebAuthn the form stays hidden.
(function () {
  'use strict';
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }
  function decode(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) {
      s += '=';
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }
  function encode(buf) {
    var bytes = new Uint8Array(buf);
    var bin = '';
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function descriptors(list) {
    return (list || []).map(function (c) {
      return { type: c.type, id: decode(c.id), transports: c.transports };
    });
  }
  function creationOptions(o) {
    var pk = o.publicKey;
    pk.challenge = decode(pk.challenge);
    pk.user.id = decode(pk.user.id);
    pk.excludeCredentials = descriptors(pk.excludeCredentials);
    return pk;
  }
  function requestOptions(o) {
    var pk = o.publicKey;
    pk.challenge = decode(pk.challenge);
    pk.allowCredentials = descriptors(pk.allowCredentials);
    return pk;
  }
  function answer(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: encode(cred.rawId),
      type: cred.type,
      clientExtensionResults: {},
      response: { clientDataJSON: encode(r.clientDataJSON) }
    };
    if (cred.authenticatorAttachment) {
      out.authenticatorAttachment = cred.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = encode(r.attestationObject);
      if (r.getTransports) {
        out.response.transports = r.getTransports();
      }
    } else {
      out.response.authenticatorData = encode(r.authenticatorData);
      out.response.signature = encode(r.signature);
      if (r.userHandle) {
        out.response.userHandle = encode(r.userHandle);
      }
    }
    return JSON.stringify(out);
  }
  // The messages come in the page's language from the form's data-msg-* attributes.
  function explain(err, form) {
    if (err && err.name === 'NotAllowedError') {
      return form.getAttribute('data-msg-cancelled') || 'The passkey request was cancelled or timed out. Try again.';
    }
    if (err && err.name === 'InvalidStateError') {
      return form.getAttribute('data-msg-exists') || 'This passkey is registered already.';
    }
    var failed = form.getAttribute('data-msg-failed') || 'Your browser could not use a passkey.';
    return failed + (err && err.message ? ' (' + err.message + ')' : '');
  }
  var forms = document.querySelectorAll('form[data-passkey]');
  Array.prototype.forEach.call(forms, function (form) {
    var status = form.querySelector('[data-passkey-status]');
    var busy = false;
    form.hidden = false;
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      if (busy) {
        return;
      }
      busy = true;
      if (status) {
        status.textContent = '';
        status.hidden = true;
      }
      var opts = JSON.parse(form.getAttribute('data-options'));
      var ceremony = form.getAttribute('data-passkey') === 'create' ?
        navigator.credentials.create({ publicKey: creationOptions(opts) }) :
        navigator.credentials.get({ publicKey: requestOptions(opts) });
      ceremony.then(function (cred) {
        form.elements.credential.value = answer(cred);
        form.submit();
      }, function (err) {
        busy = false;
        if (status) {
          status.textContent = explain(err, form);
          status.hidden = false;
        }
      });
    });
  });
}());
