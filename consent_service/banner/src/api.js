/* The page's API, window.consent: read the choice, open the preferences, withdraw, listen. */
w.consent = {
  get: snapshot,
  has,
  show: openPreferences,
  withdraw: category => choose(S.granted ? S.granted.filter(c => category && c != category) : [], 'withdraw'),
  on(type, fn) {
    if (type == 'change') S.listeners.push(fn);
    return () => { S.listeners = S.listeners.filter(f => f != fn); };
  },
  version: V,
};
