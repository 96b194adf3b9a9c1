// Part of the one message catalogue (contract/messages.ts spreads it into MESSAGES):
// the hardware half of `loa-provision check` (the IO board, GPIO relays, the test tone
// and the commissioning level) and the trusted-keys line. A separate file only to keep
// each under the layout's 400 lines.

export const HARDWARE_MESSAGES = {
  // --- the IO board
  'check.board.sim': {
    vi: 'hardware.board là "sim": không có rơ-le hay cảm biến nào để kiểm tra',
    en: 'hardware.board is "sim": no relays or sensors to test',
  },
  'check.board.sim.hint': {
    vi: 'đặt bo mạch thật bằng loa-provision init --board mcu|gpio',
    en: 'set the real board with loa-provision init --board mcu|gpio',
  },
  'check.mcu.ok': { vi: '{firmware} trên {path}', en: '{firmware} on {path}' },
  'check.status.failed': { vi: 'GET_STATUS thất bại: {error}', en: 'GET_STATUS failed: {error}' },
  'check.status.failed.hint': {
    vi: 'bo mạch ngừng trả lời sau khi bắt tay: kiểm tra nguồn và cáp, rồi chạy lại check',
    en: 'the board stopped answering after its handshake: check its power and cable, then run the check again',
  },
  'check.line.progress': { vi: 'đang đo dây loa', en: 'testing the speaker line' },
  'check.mcu.busy': {
    vi: '{path} đang bị tiến trình khác dùng ({error})',
    en: '{path} is in use by another process ({error})',
  },
  'check.mcu.busy.hint': {
    vi: 'agent đang giữ cổng: sudo systemctl stop loa-agent, chạy check, rồi sudo systemctl start loa-agent; hoặc từ trung tâm: noc send --device {deviceId} --action selftest',
    en: 'the agent holds it: sudo systemctl stop loa-agent, check, then sudo systemctl start loa-agent; or from the centre: noc send --device {deviceId} --action selftest',
  },
  'check.mcu.missing': { vi: '{path} không tồn tại', en: '{path} does not exist' },
  'check.mcu.missing.hint': {
    vi: 'cáp của bo mạch IO đã cắm và có nguồn chưa? luật udev (systemd/99-loa-io.rules) tạo ra /dev/loa-io: ls -l /dev/loa-io /dev/ttyUSB* /dev/ttyACM* /dev/ttyAMA*',
    en: "is the IO board's cable plugged in and powered? the udev rule (systemd/99-loa-io.rules) creates /dev/loa-io: ls -l /dev/loa-io /dev/ttyUSB* /dev/ttyACM* /dev/ttyAMA*",
  },
  'check.mcu.denied': { vi: '{path}: không có quyền truy cập', en: '{path}: permission denied' },
  'check.mcu.denied.hint': {
    vi: 'chạy check bằng sudo (user của agent thuộc nhóm dialout)',
    en: "run the check with sudo (the agent's user is in group dialout)",
  },
  'check.mcu.silent': {
    vi: 'không có trả lời trên {path} ({command} × {attempts}, mỗi lần {ms} ms)',
    en: 'no answer on {path} ({command} × {attempts}, {ms} ms each)',
  },
  'check.mcu.silent.hint': {
    vi: 'cổng mở được nhưng bo mạch im lặng: kiểm tra đèn nguồn và dây TX/RX (115200 baud), rồi tắt bật lại bo mạch IO',
    en: 'the port opens but the board is silent: check its power LED and the TX/RX wires (115200 baud), then power-cycle the IO board',
  },
  'check.mcu.relays': {
    vi: 'bo mạch trả lời nhưng không chịu đóng cắt rơ-le ({error})',
    en: 'the board answers but refuses to switch its relays ({error})',
  },
  'check.mcu.relays.hint': {
    vi: 'rơ-le hoặc dây phản hồi của nó bị hỏng (HW_FAULT): kiểm tra các rơ-le trên bo mạch IO; tắt bật lại; nếu vẫn lỗi thì thay bo mạch',
    en: 'a relay or its feedback wiring is faulty (HW_FAULT): check the relays on the IO board; power-cycle it; replace the board if it persists',
  },
  'check.mcu.protocol': {
    vi: 'bo mạch dùng phiên bản giao thức khác ({error})',
    en: 'the board speaks another protocol version ({error})',
  },
  'check.mcu.protocol.hint': {
    vi: 'firmware của bo mạch IO và agent này không khớp: cập nhật một trong hai (firmware-bridge/PROTOCOL.md §6)',
    en: "the IO board's firmware and this agent do not match: update one of them (firmware-bridge/PROTOCOL.md §6)",
  },
  'check.mcu.other.hint': { vi: 'kiểm tra cáp và nguồn của bo mạch IO', en: "check the IO board's cable and power" },
  'check.fm.notReady': { vi: 'bộ thu CHƯA SẴN SÀNG', en: 'tuner NOT READY' },
  'check.fm.notReady.hint': {
    vi: 'bộ thu FM không khởi động: tắt bật lại bo mạch IO; nếu vẫn lỗi thì mô-đun thu FM bị hỏng',
    en: 'the FM tuner did not start: power-cycle the IO board; if it persists the tuner module is faulty',
  },
  'check.fm.failed': { vi: 'dò đài {mhz} MHz thất bại: {error}', en: 'tune to {mhz} MHz failed: {error}' },
  'check.fm.failed.hint': {
    vi: 'kiểm tra bo mạch IO (xem dòng vi điều khiển)',
    en: 'check the IO board (see the microcontroller line)',
  },
  // --- GPIO relays
  'check.gpio.reads': {
    vi: 'GPIO{line} đọc được {on}/{off} sau khi bật/tắt',
    en: 'GPIO{line} reads {on}/{off} after on/off',
  },
  'check.gpio.reads.hint': {
    vi: 'chân không theo lệnh: có chương trình khác điều khiển nó, hoặc sai số chân',
    en: 'the line does not follow: another program drives it, or the pin number is wrong',
  },
  'check.gpio.unreadable': { vi: 'backend này không đọc lại được mức', en: 'level not readable back on this backend' },
  'check.gpio.readBack': { vi: 'đọc lại được cả bật và tắt', en: 'read back on and off' },
  'check.gpio.ok': {
    vi: 'đã bật và tắt GPIO{line} qua {backend} ({rb}): bạn phải nghe rơ-le kêu tách hai lần',
    en: 'GPIO{line} switched on and off via {backend} ({rb}): you should have heard the relay click twice',
  },
  'check.gpio.busy': { vi: 'các chân GPIO đang bận ({error})', en: 'GPIO lines busy ({error})' },
  'check.gpio.busy.hint': {
    vi: 'agent đang giữ chúng: sudo systemctl stop loa-agent, chạy check, rồi bật lại agent; hoặc từ trung tâm: noc send --device {deviceId} --action selftest',
    en: 'the agent holds them: sudo systemctl stop loa-agent, check, then start it; or from the centre: noc send --device {deviceId} --action selftest',
  },
  'check.gpio.other.hint': {
    vi: 'kiểm tra số chân (BCM, hardware.gpio.pins) và chạy bằng sudo',
    en: 'check the pin numbers (BCM, hardware.gpio.pins) and run with sudo',
  },
  'check.gpio.fault': { vi: 'GPIO{line} báo lỗi', en: 'GPIO{line} reports a fault' },
  'check.gpio.fault.hint': {
    vi: 'ampli báo lỗi: xem đèn báo của nó, dây loa và nguồn cấp',
    en: 'the amplifier reports a fault: check its indicator, the speaker line and its supply',
  },
  'check.gpio.noFault': { vi: 'không lỗi', en: 'no fault' },
  'check.gpio.needsRelay': { vi: 'cần rơ-le ampli', en: 'needs the amplifier relay' },
  // --- the test tone
  'check.tone.skipped': { vi: 'chưa phát: cả xã sẽ nghe thấy', en: 'not played: it is heard across the commune' },
  'check.tone.skipped.hint': {
    vi: 'báo trước cho bà con xung quanh, rồi chạy: loa-provision check --tone',
    en: 'warn the neighbours, then run: loa-provision check --tone',
  },
  'check.tone.standIn': {
    vi: 'audio.player là "stand-in": hộp này không bao giờ phát ra tiếng',
    en: 'audio.player is "stand-in": this box never makes a sound',
  },
  'check.tone.standIn.hint': {
    vi: 'đặt "audio": {"player": "mpg123"} trong cấu hình',
    en: 'set "audio": {"player": "mpg123"} in the config',
  },
  'check.tone.noChime': { vi: 'không tìm thấy tệp chuông thử{at}', en: 'test chime not found{at}' },
  'check.tone.noChime.at': { vi: ' ở {file}', en: ' at {file}' },
  'check.tone.noChime.hint': {
    vi: 'thêm --tone-file FILE.mp3 (MP3 ngắn nào cũng được)',
    en: 'pass --tone-file FILE.mp3 (any short MP3)',
  },
  'check.tone.progress': { vi: 'đang phát chuông thử', en: 'playing the test tone' },
  'check.tone.ampOff': { vi: 'ampli không bật lên ({error})', en: 'the amplifier did not switch on ({error})' },
  'check.tone.ampOff.hint': {
    vi: 'lỗi rơ-le hoặc ampli đang báo lỗi (xem dòng ampli): kiểm tra rơ-le và dây của nó',
    en: 'a relay fault or a latched amplifier fault (see the amplifier line): check the relay and its wiring',
  },
  'check.tone.install': { vi: 'cài mpg123: sudo apt-get install mpg123', en: 'sudo apt-get install mpg123' },
  'check.tone.alsa': {
    vi: 'thiết bị ALSA "{device}" không ra tiếng: aplay -l liệt kê các card âm thanh; đặt lại audio.device',
    en: 'no sound out of ALSA device "{device}": aplay -l lists the cards; set audio.device',
  },
  'check.tone.player': { vi: 'xem thông báo của trình phát', en: 'see the player message' },
  'check.tone.noSound': { vi: 'không có tiếng: {error}', en: 'no sound: {error}' },
  'check.tone.failed': { vi: 'phát thất bại: {message}', en: 'playback failed: {message}' },
  'check.tone.failed.hint': {
    vi: 'kiểm tra audio.device ("{device}") và card âm thanh (aplay -l)',
    en: 'check audio.device ("{device}") and the sound card (aplay -l)',
  },
  'check.tone.played': { vi: 'chuông {s} s ở mức {volume} % qua {via}', en: '{s} s chime at {volume} % via {via}' },
  'check.tone.paced': { vi: 'đầu ra giả lập (không có card)', en: 'paced output (no card)' },
  'check.tone.weak': {
    vi: '{played}, nhưng ampli chỉ ăn {mA} mA',
    en: '{played}, but the amplifier drew only {mA} mA',
  },
  'check.tone.weak.hint': {
    vi: 'ampli không có nguồn hoặc rơ-le không đóng: kiểm tra nguồn, cầu chì và rơ-le',
    en: 'the amplifier is not powered or the relay did not switch it: check its supply, fuse and the relay',
  },
  'check.tone.ok': {
    vi: '{played}{current}; tất cả các loa phải vừa kêu',
    en: '{played}{current}; every speaker should have sounded',
  },
  'check.tone.current': { vi: ', ampli {mA} mA', en: ', amplifier {mA} mA' },
  // --- the commissioning level
  'check.comm.boardSim': { vi: 'bo mạch giả lập (hardware.board "sim")', en: 'hardware.board "sim"' },
  'check.comm.boardOld': { vi: 'bo mạch IO (giao thức 1.{minor})', en: 'the IO board (protocol 1.{minor})' },
  'check.comm.boardGpio': { vi: 'bo mạch GPIO', en: 'a GPIO board' },
  'check.comm.needsTone': { vi: 'cần chuông thử phát được', en: 'needs the test tone to sound' },
  'check.comm.notMeasured': {
    vi: '{board} không đo được công suất ra: không có mức chuẩn (các lần phát báo "measured": false)',
    en: '{board} does not measure its output: no commissioning level (plays are reported "measured": false)',
  },
  'check.comm.notMeasured.hint': {
    vi: 'bo mạch IO có firmware giao thức 1.2 mới đo được (firmware-bridge/PROTOCOL.md §5.6)',
    en: 'an IO board with firmware protocol 1.2 measures it (firmware-bridge/PROTOCOL.md §5.6)',
  },
  'check.comm.notRecorded': { vi: 'chưa ghi được: {why}', en: 'not recorded: {why}' },
  'check.comm.silent.hint': {
    vi: 'đầu ra ampli không tới được dây loa: kiểm tra cầu chì đầu ra, cầu đấu dây loa và kết quả đo dây ở trên, rồi chạy lại check',
    en: "the amplifier's output does not reach the line: check its output fuse, the speaker line's terminals and the line test above, then run the check again",
  },
  'check.comm.of': {
    vi: '{percent} % công suất chuẩn (độ khuếch đại {gain} dB, mức chuẩn {was} dB ghi ngày {date})',
    en: '{percent} % of the commissioned output (gain {gain} dB, commissioned {was} dB on {date})',
  },
  'check.comm.at': { vi: 'ampli đạt {of}', en: 'amplifier at {of}' },
  'check.comm.weak.hint': {
    vi: 'dưới {percent} % là ampli yếu: kiểm tra điện áp nguồn, cầu chì đầu ra và nấc biến áp; nếu đã cố ý thay ampli thì ghi mức mới: {command}',
    en: 'under {percent} % is a weak amplifier: check its supply voltage, output fuse and transformer taps; if it was replaced on purpose, record the new level: {command}',
  },
  'check.comm.kept': {
    vi: 'ampli đạt {of}; giữ nguyên mức chuẩn (thay bằng {command})',
    en: 'amplifier at {of}; baseline kept ({command} replaces it)',
  },
  'check.comm.unwritable.hint': {
    vi: 'thư mục trạng thái phải ghi được: ls -ld {dir}',
    en: 'the state directory must be writable: ls -ld {dir}',
  },
  'check.comm.lineUnknown': { vi: 'chưa đo dây loa', en: 'line not measured' },
  'check.comm.line': { vi: 'dây loa {ohms} Ω', en: 'line {ohms} Ω' },
  'check.comm.replaced': { vi: ' (thay mức cũ không dùng được: {why})', en: ' (replaced an unusable one: {why})' },
  'check.comm.recorded': {
    vi: 'đã ghi: đầu ra {level} dB so với định mức ở âm lượng {volume} %, độ khuếch đại {gain} dB, {line}, {windows} lần đo → {path}{replaced}',
    en: 'recorded: output {level} dB of rated at {volume} % volume, gain {gain} dB, {line}, {windows} windows → {path}{replaced}',
  },
  // --- trusted centre keys
  'trust.none': { vi: 'không có', en: 'none' },
  'trust.schedules': { vi: 'lịch phát', en: 'schedules' },
  'trust.commands': { vi: 'lệnh', en: 'commands' },
  'trust.or': { vi: ' hoặc ', en: ' or ' },
  'trust.and': { vi: ' và ', en: ' and ' },
  'trust.fail.none': {
    vi: 'không có: mọi lịch phát và mọi lệnh sẽ bị từ chối',
    en: 'none: every schedule and every command will be refused',
  },
  'trust.fail.gaps': {
    vi: 'không khoá nào ký {gaps} ({keys}): tất cả sẽ bị từ chối',
    en: 'none signs {gaps} ({keys}): every one will be refused',
  },
  'trust.fail.hint': {
    vi: 'thêm khoá của trung tâm: sudo loa-provision init --yes{config} --trusted-key \'<dòng "noc keys" in ra>\', rồi sudo systemctl restart loa-agent',
    en: "add the centre's key: sudo loa-provision init --yes{config} --trusted-key '<the line \"noc keys\" printed>', then sudo systemctl restart loa-agent",
  },
} as const satisfies Record<string, { vi: string; en: string }>;
