"""The scorecard that ships with the product: DOMAIN.md's five checks (服务用语、服务态度、语气语调、
客户需求归纳能力、应变能力), each with levels and guidance, in English and Chinese."""

from __future__ import annotations

from typing import Any

DEFAULT_CODE = "default"

_LABELS = {5: ("Excellent", "优秀"), 4: ("Good", "良好"), 3: ("Acceptable", "合格"),
           2: ("Needs improvement", "待改进"), 1: ("Unacceptable", "不合格")}


def _levels(guidance: dict[int, tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"value": v, "label_en": _LABELS[v][0], "label_zh": _LABELS[v][1],
             "guidance_en": guidance[v][0], "guidance_zh": guidance[v][1]} for v in (5, 4, 3, 2, 1)]


def _yes_no(yes: tuple[str, str], no: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"value": 1, "label_en": "Yes", "label_zh": "是", "guidance_en": yes[0], "guidance_zh": yes[1]},
            {"value": 0, "label_en": "No", "label_zh": "否", "guidance_en": no[0], "guidance_zh": no[1]}]


DEFAULT_SCORECARD: dict[str, Any] = {
    "code": DEFAULT_CODE,
    "name_en": "Service quality evaluation form",
    "name_zh": "服务质量综合考评表",
    "sections": [
        {"code": "service_language", "title_en": "Service language", "title_zh": "服务用语", "weight": 20,
         "questions": [
             {"code": "standard_phrases", "scale": "one_to_five", "weight": 3,
              "text_en": "Uses the standard greeting, closing and service phrases",
              "text_zh": "规范使用开头语、结束语及服务用语",
              "help_en": "Listen to the first and last 30 seconds and to every hand-over point.",
              "help_zh": "重点听开头、结尾各30秒及每次转接处。",
              "levels": _levels({
                  5: ("Every standard phrase, natural and complete.", "标准用语完整、自然。"),
                  4: ("All standard phrases, one slightly stiff or shortened.", "标准用语齐全，个别略显生硬或简略。"),
                  3: ("One standard phrase missing, no improper wording.", "缺少一处标准用语，无不当用语。"),
                  2: ("Several phrases missing or casual wording.", "多处缺少标准用语或用语随意。"),
                  1: ("No greeting or closing, or improper wording.", "无开头语/结束语，或使用不当用语。")})},
             {"code": "hold_transfer_phrases", "scale": "yes_no", "weight": 1, "allows_na": True,
              "text_en": "Asks before putting on hold or transferring, and thanks the caller for waiting",
              "text_zh": "等待或转接前征得同意，并感谢客户等待",
              "help_en": "N/A when the call had no hold and no transfer.",
              "help_zh": "通话中无等待、无转接时选“不适用”。",
              "levels": _yes_no(("Asked and thanked.", "已征询并致谢。"), ("Held or transferred without asking.",
                                                                   "未征询即等待或转接。"))},
         ]},
        {"code": "attitude", "title_en": "Service attitude", "title_zh": "服务态度", "weight": 25,
         "questions": [
             {"code": "courtesy", "scale": "one_to_five", "weight": 3,
              "text_en": "Courteous, patient and respectful throughout",
              "text_zh": "全程礼貌、耐心、尊重客户",
              "help_en": "Judge from the caller's point of view, especially when they are upset.",
              "help_zh": "站在客户角度判断，尤其是客户情绪激动时。",
              "levels": _levels({
                  5: ("Warm and patient even under pressure.", "压力下仍热情耐心。"),
                  4: ("Polite and patient.", "礼貌耐心。"),
                  3: ("Polite but detached.", "礼貌但较冷淡。"),
                  2: ("Signs of impatience (interrupting, sighing).", "有不耐烦表现（打断、叹气）。"),
                  1: ("Disrespectful or dismissive.", "不尊重或敷衍客户。")})},
             {"code": "no_rudeness", "scale": "yes_no", "weight": 1, "critical": True,
              "text_en": "No rude, mocking or argumentative language",
              "text_zh": "无粗鲁、嘲讽或与客户争辩的言语",
              "help_en": "Critical: a 'No' sets the evaluation's score to 0.",
              "help_zh": "关键项：选“否”则本次考评得分为0。",
              "levels": _yes_no(("None heard.", "未出现。"), ("Rude, mocking or argued with the caller.",
                                                           "出现粗鲁、嘲讽或争辩。"))},
         ]},
        {"code": "tone", "title_en": "Tone and intonation", "title_zh": "语气语调", "weight": 15,
         "questions": [
             {"code": "tone_pace", "scale": "one_to_five", "weight": 1,
              "text_en": "Clear, friendly tone at a suitable pace and volume",
              "text_zh": "吐字清晰、语气亲切、语速音量适中",
              "help_en": "Smiling voice; adapts pace to the caller (slower for the elderly).",
              "help_zh": "微笑服务；根据客户调整语速（如老年客户放慢）。",
              "levels": _levels({
                  5: ("Clear, warm, well paced throughout.", "全程清晰亲切，节奏得当。"),
                  4: ("Clear and friendly, pace occasionally off.", "清晰亲切，偶有语速不当。"),
                  3: ("Understandable but flat.", "能听清但语调平淡。"),
                  2: ("Too fast, too quiet or monotonous.", "语速过快、声音过小或单调。"),
                  1: ("Hard to understand or cold.", "难以听清或语气冷淡。")})},
         ]},
        {"code": "needs", "title_en": "Summarising the customer's need", "title_zh": "客户需求归纳能力",
         "weight": 20,
         "questions": [
             {"code": "summarise_need", "scale": "one_to_five", "weight": 1,
              "text_en": "Identifies, summarises and confirms the customer's need",
              "text_zh": "准确识别、归纳并向客户确认其需求",
              "help_en": "Look for a restatement such as 'So you would like ...' before the answer.",
              "help_zh": "关注解答前是否复述确认，如“您是想……对吗”。",
              "levels": _levels({
                  5: ("Need summarised and confirmed, including the unstated one.", "归纳并确认需求，包括潜在需求。"),
                  4: ("Need summarised and confirmed.", "归纳并确认需求。"),
                  3: ("Need understood but not confirmed.", "理解需求但未确认。"),
                  2: ("Repeated questions; need partly misunderstood.", "反复询问，需求理解有偏差。"),
                  1: ("Need misunderstood; wrong answer given.", "误解需求，答非所问。")})},
         ]},
        {"code": "adaptability", "title_en": "Handling the customer (adaptability)", "title_zh": "应变能力",
         "weight": 20,
         "questions": [
             {"code": "handling", "scale": "one_to_five", "weight": 1,
              "text_en": "Handles objections, emotions and unexpected questions flexibly",
              "text_zh": "灵活处理异议、情绪及突发问题",
              "help_en": "Escalating or handing to the team leader when right counts as good handling.",
              "help_zh": "在适当时机升级或转交班长属于正确处理。",
              "levels": _levels({
                  5: ("Calms the caller and resolves or routes correctly.", "安抚到位并妥善解决或正确转交。"),
                  4: ("Handles well with small hesitations.", "处理得当，略有迟疑。"),
                  3: ("Handles by the script, little adaptation.", "照本宣科，缺少变通。"),
                  2: ("Struggles; the caller has to push.", "应对吃力，需客户催促。"),
                  1: ("Loses control of the call.", "失去对通话的掌控。")})},
             {"code": "proactive_care", "scale": "yes_no", "weight": 5, "bonus": True,
              "text_en": "Bonus: goes beyond the request (proactive care or a useful suggestion)",
              "text_zh": "加分项：超出客户期望（主动关怀或有益建议）",
              "help_en": "Adds up to 5 points; the total is capped at 100.",
              "help_zh": "最多加5分，总分不超过100。",
              "levels": _yes_no(("Did more than asked.", "有超出期望的服务。"), ("Nothing beyond the request.",
                                                                      "无额外服务。"))},
         ]},
    ],
}
