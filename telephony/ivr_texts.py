"""Default wording of the IVR in its two languages; an administrator overrides any of these in
the IVR settings. `{position}` and `{minutes}` are filled in where they appear."""

from __future__ import annotations

LANGUAGES = ("zh-CN", "en-US")

DEFAULT_TEXTS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "greeting": "您好，欢迎致电客服热线。本次通话可能会被录音。",
        "menu": "咨询请按1，投诉请按2，会员服务请按3，预约回电请按4，人工服务请按0。For English, press 9.",
        "no_input": "对不起，没有收到您的选择。",
        "closed": "现在是非工作时间。请在提示音后留言，我们会尽快给您回电。",
        "position": "您目前排在第{position}位，预计等待约{minutes}分钟。",
        "hold": "请稍候，客服代表马上为您服务。",
        "wait_offer": "留言请按1；预约回电请按2，我们会按您的排队顺序回电；继续等待请不要挂机。",
        "callback_confirm": "谢谢，我们会尽快给您回电。再见。",
        "voicemail": "请在提示音后留言，结束后请按井号键。",
        "voicemail_thanks": "谢谢，您的留言已经收到。再见。",
        "connecting": "正在为您接通客服代表。",
        "reconnect": "与客服代表的通话中断了，正在为您重新接通，请稍候。",
        "goodbye": "感谢您的来电，再见。",
        "queue_problem": "对不起，目前线路繁忙。",
    },
    "en-US": {
        "greeting": "Welcome to the service hotline. This call may be recorded.",
        "menu": ("For inquiries press 1. For complaints press 2. For membership press 3. "
                 "To be called back press 4. To speak to an operator press 0. 中文服务请按9。"),
        "no_input": "Sorry, we did not get your choice.",
        "closed": "We are closed now. Please leave a message after the tone and we will call you back.",
        "position": "You are number {position} in line. The estimated wait is about {minutes} minutes.",
        "hold": "Please hold, an agent will be with you shortly.",
        "wait_offer": ("To leave a voicemail press 1. To be called back, keeping your place in line, press 2. "
                       "Or stay on the line."),
        "callback_confirm": "Thank you. We will call you back as soon as we can. Goodbye.",
        "voicemail": "Please leave your message after the tone, then press the pound key.",
        "voicemail_thanks": "Thank you, your message has been recorded. Goodbye.",
        "connecting": "Connecting you to an agent.",
        "reconnect": "We were cut off from the agent. Please hold while we reconnect you.",
        "goodbye": "Thank you for calling. Goodbye.",
        "queue_problem": "Sorry, all our lines are busy.",
    },
}

# Said when the database cannot be reached, so it cannot come from the settings table.
APOLOGY = {
    "zh-CN": "非常抱歉，系统暂时无法接听您的电话。请在提示音后留言，我们会给您回电。",
    "en-US": "We are sorry, we cannot take your call right now. Please leave a message after the tone.",
}

# Spoken words that choose a menu item, per language (lower case for English).
SPEECH_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "zh-CN": {
        "inquiry": ("咨询", "查询", "问题"),
        "complaint": ("投诉",),
        "membership": ("会员", "积分"),
        "callback": ("回电", "回拨"),
        "operator": ("人工", "客服", "接线员"),
    },
    "en-US": {
        "inquiry": ("inquiry", "enquiry", "question", "information"),
        "complaint": ("complaint", "complain"),
        "membership": ("member", "membership", "points"),
        "callback": ("call back", "callback", "call me"),
        "operator": ("operator", "agent", "person", "human", "representative"),
    },
}
