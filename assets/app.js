// gcli2api panel: the few things HTML and htmx cannot do alone. No inline handlers (the CSP
// forbids them); every text shown here goes through textContent, never innerHTML.
(function () {
  'use strict';

  // Texts in the reader's language, from the page's data-t-* attributes (English fallback).
  function t(name, fallback) {
    var v = document.body && document.body.dataset['t' + name];
    return v || fallback;
  }

  // The browser's time zone, for the server to show times in (unless the operator set one).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf('gcli2api_tz=' + encodeURIComponent(zone)) < 0) {
      document.cookie = 'gcli2api_tz=' + encodeURIComponent(zone) +
        '; path=/; max-age=31536000; samesite=strict';
    }
  } catch (e) { /* no Intl: times stay in UTC, and say so */ }

  // Switches that apply on change (their form still has a button without script).
  document.addEventListener('change', function (e) {
    var el = e.target;
    if (el && el.hasAttribute && el.hasAttribute('data-autosubmit') && el.form) el.form.submit();
  });

  function toast(level, text) {
    var box = document.getElementById('toasts');
    if (!box) return;
    var t = document.createElement('div');
    t.className = 'toast ' + (level === 'error' ? 'error' : 'ok');
    t.setAttribute('role', level === 'error' ? 'alert' : 'status');
    t.textContent = String(text);
    box.appendChild(t);
    setTimeout(function () { t.remove(); }, level === 'error' ? 8000 : 4000);
  }

  // Server toasts arrive as an HX-Trigger event named "toast".
  document.addEventListener('toast', function (e) {
    var d = e.detail || {};
    toast(d.level, d.text);
  });

  // A request that failed without a toast of its own (network down, 5xx from a proxy).
  document.addEventListener('htmx:sendError', function () {
    toast('error', t('NoAnswer', 'The gateway did not answer.'));
  });

  function human(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600);
    var m = Math.floor(s % 3600 / 60), r = s % 60;
    var zh = document.documentElement.lang === 'zh-CN';
    var u = zh ? ['天', '小时', '分', '秒'] : [' d ', ' h ', ' min ', ' s'];
    var out;
    if (d > 0) out = d + u[0] + h + u[1];
    else if (h > 0) out = h + u[1] + m + u[2];
    else if (m > 0) out = m + u[2] + (r < 10 ? '0' : '') + r + u[3];
    else out = r + u[3];
    return out.replace(/ +$/, '').replace(/  +/g, ' ');
  }

  // Countdowns: <time datetime=… data-countdown> shows the time left, ticking each second.
  function tick() {
    var now = Date.now();
    document.querySelectorAll('time[data-countdown]').forEach(function (el) {
      var at = Date.parse(el.getAttribute('datetime'));
      if (isNaN(at)) return;
      if (!el.title) el.title = new Date(at).toLocaleString();
      el.textContent = at <= now ? t('Now', 'now') : human(at - now);
    });
  }
  setInterval(tick, 1000);
  document.addEventListener('DOMContentLoaded', tick);
  document.addEventListener('htmx:afterSettle', tick);

  // Live log: search, pause/resume, download of what is shown, follow the end while the box
  // is ticked, and keep at most 1000 lines.
  // Paused is the button's own state, so a fresh page always starts live.
  function isPaused() {
    var b = document.getElementById('log-pause');
    return !!b && b.getAttribute('aria-pressed') === 'true';
  }
  function logMatches(line) {
    var q = document.getElementById('log-search');
    var term = q ? q.value.trim().toLowerCase() : '';
    return !term || line.textContent.toLowerCase().indexOf(term) >= 0;
  }
  function logFilter() {
    var log = document.getElementById('log');
    if (!log) return;
    Array.prototype.forEach.call(log.children, function (l) {
      l.hidden = l.classList.contains('held') || !logMatches(l);
    });
  }
  function heldCount() {
    var held = document.getElementById('log-held');
    var log = document.getElementById('log');
    if (!held || !log) return;
    var n = log.querySelectorAll('.line.held').length;
    held.textContent = n ? n + ' ' + held.getAttribute('data-held') : '';
  }
  document.addEventListener('htmx:sseMessage', function (e) {
    var log = document.getElementById('log');
    if (!log || e.target !== log) return;
    var last = log.lastElementChild;
    if (last) {
      if (isPaused()) last.classList.add('held');
      last.hidden = last.classList.contains('held') || !logMatches(last);
    }
    while (log.childElementCount > 1000) log.firstElementChild.remove();
    heldCount();
    var follow = document.getElementById('autoscroll');
    if (!isPaused() && (!follow || follow.checked)) log.scrollTop = log.scrollHeight;
  });
  document.addEventListener('input', function (e) {
    if (e.target && e.target.id === 'log-search') logFilter();
  });
  document.addEventListener('click', function (e) {
    var b = e.target.closest && e.target.closest('#log-pause, #log-download');
    if (!b) return;
    var log = document.getElementById('log');
    if (!log) return;
    if (b.id === 'log-pause') {
      var paused = !isPaused();
      b.setAttribute('aria-pressed', String(paused));
      b.textContent = b.getAttribute(paused ? 'data-resume' : 'data-pause');
      if (!paused) {
        log.querySelectorAll('.line.held').forEach(function (l) { l.classList.remove('held'); });
        logFilter();
        heldCount();
        log.scrollTop = log.scrollHeight;
      }
      return;
    }
    // Download: the lines shown now (search applied, held lines left out), as plain text.
    var text = Array.prototype.filter.call(log.children, function (l) { return !l.hidden; })
      .map(function (l) { return l.textContent; }).join('\n') + '\n';
    var a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
    a.download = 'gcli2api-log-' + new Date().toISOString().replace(/[:.]/g, '-') + '.txt';
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  });


  // Upload progress and reset.
  document.addEventListener('htmx:xhr:progress', function (e) {
    var p = document.getElementById('upload-progress');
    if (!p || !e.target.closest('#upload-form') || !e.detail.lengthComputable) return;
    p.hidden = false;
    p.value = Math.round(e.detail.loaded / e.detail.total * 100);
  });
  document.addEventListener('htmx:afterRequest', function (e) {
    var form = e.target.closest && e.target.closest('#upload-form');
    if (!form) return;
    var p = document.getElementById('upload-progress');
    if (p) p.hidden = true;
    if (e.detail.successful) form.reset();
  });

  // Close buttons: data-clear names the element whose content is removed (an edit form).
  document.addEventListener('click', function (e) {
    var b = e.target.closest && e.target.closest('[data-clear]');
    if (!b) return;
    var box = document.getElementById(b.getAttribute('data-clear'));
    if (box) box.replaceChildren();
  });

  // Copy buttons: data-copy names the element whose text is copied.
  document.addEventListener('click', function (e) {
    var b = e.target.closest && e.target.closest('[data-copy]');
    if (!b) return;
    var src = document.getElementById(b.getAttribute('data-copy'));
    if (!src) return;
    var text = src.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { toast('ok', t('Copied', 'Copied:') + ' ' + text); },
        function () { toast('error', t('CopyFailed', 'Copy failed; select the text instead.')); });
    } else {
      var r = document.createRange();
      r.selectNodeContents(src);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(r);
      toast('ok', t('Selected', 'Selected; press Ctrl+C to copy.'));
    }
  });
  // Credentials table: the header box checks or clears every row box of its form.
  document.addEventListener('change', function (e) {
    var all = e.target.closest && e.target.closest('[data-select-all]');
    if (!all) return;
    var form = all.getAttribute('data-select-all');
    document.querySelectorAll('input[name="ids"][form="' + form + '"]').forEach(function (b) {
      b.checked = all.checked;
    });
  });
})();
