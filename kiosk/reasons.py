"""Reason codes: stable machine codes, each with a short Vietnamese and English message.

The screen shows Vietnamese first. A status that refuses a credential is also its reason code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    vi: str
    en: str


MESSAGES: dict[str, Message] = {
    # admitted
    "ok": Message("Mời vào", "Welcome"),
    "checked_in": Message("Đã ghi nhận, mời vào", "Checked in, welcome"),
    "vaccinated": Message("Đã tiêm chủng, mời vào", "Vaccinated, welcome"),
    "tested_negative": Message("Xét nghiệm âm tính, mời vào", "Negative test, welcome"),
    "recovered": Message("Đã khỏi bệnh, mời vào", "Recovered, welcome"),
    "guard_override": Message("Bảo vệ cho phép vào", "Admitted by the guard"),
    # technical statuses
    "malformed": Message("Mã QR bị lỗi, không đọc được", "The QR code is damaged or incomplete"),
    "unsupported": Message("Loại mã QR không được hỗ trợ", "This kind of QR code is not supported"),
    "unknown_issuer": Message("Không rõ cơ quan cấp", "Issuer not recognised"),
    "invalid_signature": Message("Chữ ký không hợp lệ", "The signature is not valid"),
    "wrong_key_usage": Message("Cơ quan cấp không được phép cấp loại này", "Issuer not allowed to sign this type"),
    "expired": Message("Chứng nhận đã hết hạn", "The certificate has expired"),
    "not_yet_valid": Message("Chứng nhận chưa có hiệu lực", "The certificate is not valid yet"),
    "revoked": Message("Chứng nhận đã bị thu hồi", "The certificate has been revoked"),
    # policy
    "format_not_accepted": Message("Nơi này không chấp nhận loại mã này", "This venue does not accept this code"),
    "health_certificate_required": Message("Cần chứng nhận y tế hợp lệ", "A valid health certificate is required"),
    "already_entered": Message("Mã này vừa được dùng để vào", "This code was used to enter a moment ago"),
    "journal_unavailable": Message("Lỗi lưu trữ, vui lòng gặp bảo vệ", "Storage failure, please see the guard"),
    "clock_unsynchronised": Message("Đồng hồ chưa đồng bộ, tạm dừng kiểm tra", "Clock not synchronised, checks paused"),
    "vaccination_incomplete": Message("Chưa tiêm đủ liều", "Vaccination series not complete"),
    "vaccination_too_recent": Message("Mũi tiêm cuối chưa đủ ngày", "Last dose too recent"),
    "vaccination_too_old": Message("Mũi tiêm cuối đã quá lâu", "Last dose too long ago"),
    "vaccine_not_accepted": Message("Loại vắc-xin không được chấp nhận", "Vaccine not accepted"),
    "test_positive": Message("Xét nghiệm dương tính", "Positive test result"),
    "test_too_old": Message("Kết quả xét nghiệm đã quá hạn", "Test result too old"),
    "test_in_future": Message("Thời gian lấy mẫu không hợp lệ", "Sample time is in the future"),
    "test_type_not_accepted": Message("Loại xét nghiệm không được chấp nhận", "Test type not accepted"),
    "recovery_too_recent": Message("Chưa đủ ngày sau khi khỏi bệnh", "Recovery too recent"),
    "recovery_too_old": Message("Chứng nhận khỏi bệnh đã quá hạn", "Recovery too long ago"),
    "certificate_incomplete": Message("Chứng nhận thiếu thông tin cần kiểm tra", "The certificate lacks information the check needs"),
    "product_not_accepted": Message("Vắc-xin không có trong danh mục được công nhận", "Vaccine product not recognised"),
    "test_result_not_negative": Message("Kết quả xét nghiệm không phải âm tính", "The test result is not negative"),
    "no_evidence": Message("Chứng nhận không có nội dung y tế", "The certificate holds no health record"),
    "disease_not_covered": Message("Chứng nhận không phải cho COVID-19", "The certificate is not for COVID-19"),
}


def message(reason: str) -> Message:
    """The message for a reason code; an unknown code gets a generic refusal, never an error."""
    return MESSAGES.get(reason, Message("Không được phép vào", "Entry refused"))
