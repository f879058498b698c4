/* The first declared language matching <html lang>, then the browser's languages, else the default.
   A tag matches exactly, or by its primary subtag ('zh', 'zh-Hans', 'zh-SG' pick 'zh-CN'). */
function pickLanguage() {
  var declared = C.languages.map(l => l.toLowerCase());
  for (var wanted of [d.documentElement.lang, ...(nav.languages || [nav.language])]) {
    if (!wanted) continue;
    wanted = wanted.toLowerCase();
    var i = declared.indexOf(wanted);
    if (i < 0) i = declared.findIndex(l => l.split('-')[0] == wanted.split('-')[0]);
    if (i >= 0) return C.languages[i];
  }
  return C.default_language;
}

/* The language of this page view's banner, its API snapshot and its records. */
var lang = pickLanguage();
