// Part of the one message catalogue (contract/messages.ts spreads it into MESSAGES):
// what a hardware reading means (agent/domain/hardware-verdicts.ts), said by
// loa-provision check in the technician's language and by the agent's remote selftest in
// English. The agent imports this part alone, not the whole catalogue.

export const VERDICT_MESSAGES = {
  'hw.unknown': { vi: 'không rõ', en: 'unknown' },
  'hw.disk.unknown': { vi: 'không biết dung lượng trống ở {where}', en: 'free space unknown at {where}' },
  'hw.disk.unknown.hint': { vi: 'xem bằng lệnh: df -h', en: 'check with: df -h' },
  'hw.disk.free': { vi: 'còn trống {size} ở {where}', en: '{size} free at {where}' },
  'hw.disk.under': { vi: '{detail}: dưới {mb} MB', en: '{detail}: under {mb} MB' },
  'hw.disk.hint': {
    vi: 'giải phóng thẻ SD: sudo du -xsh /var/log /var/cache/* | sort -h; sudo journalctl --vacuum-size=50M',
    en: 'free space on the SD card: sudo du -xsh /var/log /var/cache/* | sort -h; sudo journalctl --vacuum-size=50M',
  },
  'hw.disk.quota': {
    vi: '{detail}: ít hơn hạn mức cache ({mb} MB)',
    en: '{detail}: less than the cache quota ({mb} MB)',
  },
  'hw.disk.quota.hint': {
    vi: 'giảm cache.quotaMB, hoặc giải phóng thẻ nhớ',
    en: 'lower cache.quotaMB, or free space on the card',
  },
  'hw.fm.silent': { vi: '{got}: bo mạch IO không trả lời', en: '{got}: the IO board does not answer' },
  'hw.fm.silent.hint': { vi: 'xem dòng vi điều khiển', en: 'see the microcontroller line' },
  'hw.fm.weak': { vi: 'yếu: {got} (dưới {min})', en: 'weak: {got} (under {min})' },
  'hw.fm.weak.hint': {
    vi: 'kiểm tra ăng-ten FM và dây của nó; thử đài địa phương với --fm MHz',
    en: 'check the FM antenna and its cable; try the local station with --fm MHz',
  },
  'hw.fm.locked': { vi: 'bắt được sóng: {got}', en: 'locked: {got}' },
  'hw.line.flags': { vi: 'theo cờ trạng thái', en: 'status flags' },
  'hw.line.openCircuit': { vi: 'hở mạch', en: 'open circuit' },
  'hw.line.short': { vi: 'CHẬP ({ohms})', en: 'SHORTED ({ohms})' },
  'hw.line.short.hint': {
    vi: 'dây loa bị chập: tháo từng nhánh dây để tìm chỗ chập; không phát cho đến khi sửa xong (ampli sẽ ngắt)',
    en: 'a short on the speaker line: disconnect the lines one by one to find it; do not play until it is fixed (the amplifier will trip)',
  },
  'hw.line.open': { vi: 'HỞ ({ohms})', en: 'OPEN ({ohms})' },
  'hw.line.open.hint': {
    vi: 'không có loa trên đường dây: kiểm tra cầu đấu ở hộp và đường dây tới các loa (dây bị đứt hoặc bị cắt trộm)',
    en: 'no speaker on the line: check the terminals at the box and the line to the speakers (a cut or stolen cable)',
  },
  'hw.line.ok': { vi: 'tốt ({ohms})', en: 'ok ({ohms})' },
  'hw.door.open': { vi: 'ĐANG MỞ', en: 'OPEN' },
  'hw.door.open.hint': {
    vi: 'đóng cửa tủ (cửa mở sẽ được báo về trung tâm), hoặc kiểm tra công tắc cửa và dây nối về bo mạch IO',
    en: 'close the cabinet door (an open door is reported to the centre), or check the door switch and its wire to the IO board',
  },
  'hw.door.closed': { vi: 'đã đóng', en: 'closed' },
  'hw.mains.lost': { vi: 'MẤT ĐIỆN: đang chạy bằng ắc quy ({v})', en: 'LOST: running on battery ({v})' },
  'hw.mains.lost.hint': {
    vi: 'kiểm tra cầu dao, cầu chì và bộ nguồn cấp cho hộp',
    en: 'check the mains breaker, the fuse and the power supply feeding the box',
  },
  'hw.mains.ok': { vi: 'có điện (ắc quy {v})', en: 'present (battery {v})' },
  'hw.battery.low': { vi: 'YẾU ({v})', en: 'LOW ({v})' },
  'hw.battery.low.hint': {
    vi: 'ắc quy dự phòng hết điện hoặc đã hỏng: sạc hoặc thay; khi có điện lưới nó sẽ hồi lại trong vài giờ',
    en: 'the backup battery is flat or failing: charge or replace it; on mains it should recover within hours',
  },
  'hw.amp.fault': { vi: 'đang báo lỗi ({temp} °C, {mA} mA)', en: 'fault latched ({temp} °C, {mA} mA)' },
  'hw.amp.fault.hint': {
    vi: 'ampli đã ngắt (chập dây loa, quá nhiệt hoặc lệch DC): kiểm tra dây loa và thông gió; lỗi tự hết khi hết nguyên nhân',
    en: 'the amplifier tripped (short on a speaker line, overheating or DC offset): check the line and ventilation; it clears when the cause is gone',
  },
  'hw.amp.ok': { vi: 'không lỗi, {temp} °C{watchdog}', en: 'no fault, {temp} °C{watchdog}' },
  'hw.amp.watchdog': {
    vi: ' (watchdog của nó đã tắt ampli: agent không liên lạc với nó)',
    en: ' (its watchdog had switched it off: the agent was not talking to it)',
  },
  'hw.firmware': {
    vi: 'firmware {firmware}, giao thức {protocol}, phần cứng rev {hwRev}, lần khởi động {boot} ({reason})',
    en: 'firmware {firmware}, protocol {protocol}, hw rev {hwRev}, boot {boot} ({reason})',
  },
} as const satisfies Record<string, { vi: string; en: string }>;
