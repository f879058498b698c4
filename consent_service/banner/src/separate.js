/* Separate consents (PIPL arts. 23, 38-39): purposes such as a transfer abroad or sharing with another
   company need their own "yes". The first layer shows them as unticked choices of their own, and
   "Accept all" grants only the ones ticked. Only the regimes that show such purposes get this module. */
var separate = C.categories.filter(c => c.separate);

S.extra = () => h('fieldset', { className: 'cc-sep' }, [
  h('legend', {}, [T.separate_title]),
  ...separate.map(c => h('label', {}, [h('input', { type: 'checkbox', name: c.id }), T.categories[c.id].title])),
]);

S.sep = g => g.filter(c => !separate.some(s => s.id == c))
  .concat([...(S.bar || d).querySelectorAll('.cc-sep input:checked')].map(i => i.name));
