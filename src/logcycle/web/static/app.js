// logcycle's web page: sign in with an API key, then search, follow and drill into logs.
// Plain ES modules served by the server itself: no build step, no CDN, no inline script.

import { AlertsView } from './alerts.js';
import { ApiError, api, clearKey, getKey, onUnauthorized, setKey } from './api.js';
import { renderDetail } from './detail.js';
import { detectQueryLanguage } from './query.js';
import { ErrorsView } from './errors.js';
import { ReportsView } from './reports.js';
import { RequestView } from './request.js';
import { SearchView } from './search.js';
import { WeeksView } from './weeks.js';

const $ = (id) => document.getElementById(id);
const VIEWS = ['search', 'reports', 'request', 'weeks', 'errors', 'alerts'];

class App {
  constructor() {
    this.session = null;
    this.offset = 0; // server clock minus this browser's clock
    this.search = new SearchView(this);
    this.request = new RequestView(this);
    this.weeks = new WeeksView(this);
    this.errors = new ErrorsView(this);
    this.reports = new ReportsView(this);
    this.alerts = new AlertsView(this);
  }

  /** Now on the server's clock (time ranges are the server's insert instants). */
  now() { return Date.now() + this.offset; }

  async boot() {
    this.search.init();
    this.request.init();
    this.weeks.init();
    this.errors.init();
    this.reports.init();
    this.alerts.init();
    $('signin-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.signIn($('key').value.trim());
    });
    $('sign-out').addEventListener('click', () => this.signOut(''));
    for (const tab of document.querySelectorAll('#tabs [data-view]')) {
      tab.addEventListener('click', () => this.go(tab.dataset.view));
    }
    window.addEventListener('popstate', () => this.route());
    onUnauthorized(() => this.signOut('The server no longer accepts this key: sign in again.'));
    const key = getKey();
    if (!key) return this.showSignIn('');
    try {
      await this.enter(await api('/api/v1/whoami', {}, { key }));
    } catch (err) {
      clearKey();
      this.showSignIn(err instanceof ApiError && err.status === 401 ? '' : explain(err));
    }
  }

  async signIn(key) {
    const out = $('signin-error');
    out.textContent = '';
    if (!key) {
      out.textContent = 'Paste an API key first.';
      return;
    }
    $('signin-submit').disabled = true;
    try {
      const session = await api('/api/v1/whoami', {}, { key });
      if (!session.read) {
        out.textContent = `This key has the ${session.scope} scope: it can send events but not ` +
          'read them. Sign in with a read or admin key.';
        return;
      }
      setKey(key);
      $('key').value = '';
      await this.enter(session);
    } catch (err) {
      out.textContent = err instanceof ApiError && err.status === 401
        ? 'Wrong key: the server does not know it (or it was revoked).' : explain(err);
    } finally {
      $('signin-submit').disabled = false;
    }
  }

  async enter(session) {
    await detectQueryLanguage();
    this.setSession(session);
    document.body.classList.add('signed-in');
    $('signin').hidden = true;
    $('tabs').hidden = false;
    $('sign-out').hidden = false;
    $('tab-weeks').hidden = !session.admin;
    $('tab-alerts').hidden = !session.admin;
    $('who').textContent = `${session.key} · ${session.scope}`;
    await this.route();
  }

  setSession(session) {
    this.session = session;
    this.offset = session.now - Date.now();
  }

  /** The session, refreshed after a rotation so "previous week" stays right. */
  async freshSession() {
    if (this.now() >= this.session.next_rotation) {
      this.setSession(await api('/api/v1/whoami'));
    }
    return this.session;
  }

  showSignIn(message) {
    document.body.classList.remove('signed-in');
    for (const v of VIEWS) $(`view-${v}`).hidden = true;
    $('tabs').hidden = true;
    $('sign-out').hidden = true;
    $('who').textContent = '';
    $('signin').hidden = false;
    $('signin-error').textContent = message;
    $('key').focus();
  }

  signOut(message) {
    clearKey();
    if (this.search.tail) this.search.toggleLive();
    this.session = null;
    this.showSignIn(message);
  }

  /** Views are in the URL's fragment (#request=<key>, #weeks, #search?q=…), never the key. */
  go(view, key) {
    const hash = view === 'request' ? `#request=${encodeURIComponent(key ?? this.request.key ?? '')}`
      : view === 'weeks' ? '#weeks' : view === 'reports' ? '#reports' : view === 'alerts' ? '#alerts'
        : view === 'errors' ? (key ? `#error=${encodeURIComponent(key)}` : '#errors')
        : this.search.constructor.hash(this.search.state);
    if (window.location.hash !== hash) window.history.pushState(null, '', hash);
    this.route();
  }

  async route() {
    if (!this.session) return;
    const hash = window.location.hash;
    if (hash.startsWith('#request=')) {
      const key = decodeURIComponent(hash.slice('#request='.length));
      if (key && key !== this.request.key) this.request.open(key);
      this.show(key ? 'request' : 'search');
    } else if (hash === '#errors' || hash.startsWith('#errors?') || hash.startsWith('#error=')) {
      this.show('errors');
      if (hash.startsWith('#error=')) this.errors.show(decodeURIComponent(hash.slice(7)));
      else this.errors.restore(hash);
    } else if (hash === '#reports') {
      this.show('reports');
      this.reports.load();
    } else if (hash === '#alerts' && this.session.admin) {
      this.show('alerts');
      this.alerts.load();
    } else if (hash === '#weeks' && this.session.admin) {
      this.show('weeks');
      this.weeks.load();
    } else {
      this.show('search');
      await this.search.restore(hash.startsWith('#search') ? hash : '#search');
    }
  }

  show(view) {
    for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
    for (const tab of document.querySelectorAll('#tabs [data-view]')) {
      tab.classList.toggle('active', tab.dataset.view === view);
    }
    $('tab-request').hidden = !this.request.key;
  }

  openRequest(key) {
    this.request.key = null; // reload it even if it was open before
    this.go('request', key);
  }

  /** Every field of an event in a detail panel (detail.js), and a way to its request. */
  showEvent(panel, ev, actions = {}) {
    renderDetail(panel, ev, actions);
    const open = panel.querySelector('.detail-request');
    if (open) {
      open.hidden = !ev.request_key;
      open.dataset.key = ev.request_key ?? '';
      open.textContent = ev.request_key ? 'Open its request' : '';
    }
  }
}

function explain(err) {
  if (err instanceof ApiError) return `The server answered ${err.status}: ${err.message}`;
  return `Cannot reach the server (${err.message || err}).`;
}

new App().boot();
