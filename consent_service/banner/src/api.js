/* The page's API, window.consent: read the choice, open the preferences, withdraw, listen. */
w.consent = {
  get: snapshot,
  has,
  show: openPreferences,
  withdraw: category => record(state ? state.filter(c => category && c != category) : [], 'withdraw', lang),
  on(type, fn) {
    if (type == 'change') listeners.push(fn);
    return () => { listeners = listeners.filter(f => f != fn); };
  },
  version: V,
};
