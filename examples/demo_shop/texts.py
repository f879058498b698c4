"""The demo shop's words in its two languages, and which one a visitor gets.

The language is the visitor's own choice when they made one (the switch in the page header keeps it
in the shop's session cookie: necessary, since it remembers a setting the visitor asked for), else the
first of the browser's languages (Accept-Language, by quality) that the shop speaks, else English.
Texts are plain strings: the templates insert them with Jinja's autoescaping, never as HTML.
"""

from __future__ import annotations

from collections.abc import Iterable

LANGUAGES = ("en", "zh-CN")
DEFAULT_LANGUAGE = "en"
#: How each language names itself on the switch.
NATIVE_NAMES = {"en": "English", "zh-CN": "中文"}

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "shop_name": "Demo Software Shop",
        "products": "Products", "deals": "Deals", "cart": "Cart ({count})", "sign_in": "Sign in",
        "signed_in_as": "Signed in as {user}", "currency": "Currency", "set": "Set",
        "language": "Language", "switch_to": "Switch to",
        "cookie_settings": "Cookie settings", "privacy_policy": "Privacy policy",
        "server_consent": "Server-side consent: {status}; allowed: {granted}.",
        "gpc_sent": "Your browser sent a Global Privacy Control signal.",
        "catalogue_title": "Software for developers",
        "quantity": "Quantity", "add_to_cart": "Add to cart", "add_to_wishlist": "Add to wishlist",
        "on_wishlist": "On your wishlist.",
        "wishlist_needs_preferences": "Your wishlist is kept in a preference cookie: allow preferences under "
                                      "“Cookie settings” to keep one.",
        "product_tour": "Product tour", "product_tour_video": "Product tour video",
        "video_note": "The video plays in Demo Ad Network's player, which sets its own advertising cookie: it "
                      "plays once you allow advertising under “Cookie settings”.",
        "cart_title": "Your cart", "cart_empty": "Your cart is empty.", "product": "Product", "price": "Price",
        "deals_title": "This week's deals",
        "sign_in_title": "Sign in", "signed_in": "You are signed in as {user}.", "sign_out": "Sign out",
        "email": "Email", "enter_email": "Please enter an email address.",
        "demo_login": "This is a demo: any email address signs you in, no password is kept.",
        "privacy_title": "Privacy policy",
        "privacy_text": "We use essential cookies for sign-in, your cart and security. Other cookies (shopping "
                        "preferences, analytics, advertising) are used only as you allow, and you can change your "
                        "choice at any time under “Cookie settings” at the bottom of every page.",
        "cookies_we_use": "Cookies we use",
    },
    "zh-CN": {
        "shop_name": "Demo 软件商店",
        "products": "商品", "deals": "优惠", "cart": "购物车（{count}）", "sign_in": "登录",
        "signed_in_as": "已登录：{user}", "currency": "货币", "set": "设置",
        "language": "语言", "switch_to": "切换到",
        "cookie_settings": "Cookie 设置", "privacy_policy": "隐私政策",
        "server_consent": "服务器端同意状态：{status}；已允许：{granted}。",
        "gpc_sent": "您的浏览器发送了全球隐私控制（GPC）信号。",
        "catalogue_title": "面向开发者的软件",
        "quantity": "数量", "add_to_cart": "加入购物车", "add_to_wishlist": "加入心愿单",
        "on_wishlist": "已在您的心愿单中。",
        "wishlist_needs_preferences": "心愿单保存在偏好 Cookie 中：请在“Cookie 设置”中允许偏好 Cookie 以保留心愿单。",
        "product_tour": "产品导览", "product_tour_video": "产品导览视频",
        "video_note": "该视频在 Demo Ad Network 的播放器中播放，它会设置自己的广告 Cookie："
                      "在“Cookie 设置”中允许广告后即可播放。",
        "cart_title": "您的购物车", "cart_empty": "您的购物车是空的。", "product": "商品", "price": "价格",
        "deals_title": "本周优惠",
        "sign_in_title": "登录", "signed_in": "您已登录：{user}。", "sign_out": "退出登录",
        "email": "电子邮箱", "enter_email": "请输入电子邮箱地址。",
        "demo_login": "这是演示：任何电子邮箱地址都可以登录，不保存密码。",
        "privacy_title": "隐私政策",
        "privacy_text": "我们使用必要的 Cookie 来实现登录、购物车和安全功能。其他 Cookie（购物偏好、统计分析、广告）"
                        "仅在您允许时使用，您可以随时通过每个页面底部的“Cookie 设置”更改您的选择。",
        "cookies_we_use": "我们使用的 Cookie",
    },
}

#: Product summaries by language (names are brands and stay as they are).
SUMMARIES: dict[str, dict[str, str]] = {
    "en": {
        "code-editor-pro": "A fast editor with a debugger and refactoring tools.",
        "db-studio": "Browse, query and migrate SQL databases.",
        "api-tester": "Record, replay and assert HTTP calls.",
        "build-cache": "Share build results across your team's machines.",
    },
    "zh-CN": {
        "code-editor-pro": "带调试器和重构工具的快速编辑器。",
        "db-studio": "浏览、查询和迁移 SQL 数据库。",
        "api-tester": "录制、重放和断言 HTTP 调用。",
        "build-cache": "在团队的机器之间共享构建结果。",
    },
}


def supported(tag: str | None) -> str | None:
    """The shop's language for a language tag: exact (any case), else by its primary subtag
    ('zh', 'zh-Hans', 'zh-SG' are Chinese, 'en-GB' English); None when the shop does not speak it."""
    if not tag:
        return None
    wanted = tag.strip().lower()
    for language in LANGUAGES:
        if wanted == language.lower():
            return language
    primary = wanted.split("-")[0]
    return next((language for language in LANGUAGES if language.split("-")[0].lower() == primary), None)


def pick_language(chosen: str | None, accepted: Iterable[str]) -> str:
    """The visitor's own choice if it names a language of the shop, else the first accepted one the
    shop speaks (`accepted` best first, as Werkzeug's `request.accept_languages` iterates), else English."""
    if chosen in LANGUAGES:
        return chosen
    return next((language for language in map(supported, accepted) if language), DEFAULT_LANGUAGE)
