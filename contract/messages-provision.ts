// Part of the one message catalogue (contract/messages.ts spreads it into MESSAGES):
// loa-provision register, show, logs and what they share (the config, the device key,
// the agent's refusals and journal). A separate file only to keep each under the
// layout's 400 lines. Commands, paths, topics, codes and units stay as they are.

export const PROVISION_MESSAGES = {
  // --- what register and show share
  'session.configError': { vi: 'lỗi cấu hình ({code}) trong {path}:', en: 'configuration error ({code}) in {path}:' },
  'session.configError.fix': {
    vi: '  sửa lại, hoặc chạy lại loa-provision init',
    en: '  fix it, or run loa-provision init again',
  },
  'session.noKey': {
    vi: 'chưa có khoá thiết bị (chạy loa-provision init)',
    en: 'no device key (run loa-provision init)',
  },
  'session.keyUnreadable': { vi: 'không đọc được khoá (chạy bằng sudo)', en: 'key not readable (run with sudo)' },
  // --- register
  'reg.unreachable': {
    vi: 'không kết nối được broker: {stage}: {detail}',
    en: 'cannot reach the broker: {stage}: {detail}',
  },
  'reg.registered': {
    vi: '{mark} đã đăng ký {deviceId} trên {topic} (retained)',
    en: '{mark} registered {deviceId} on {topic} (retained)',
  },
  'reg.fingerprint': { vi: '  vân tay khoá (sha256): {fp}', en: '  key fingerprint (sha256): {fp}' },
  'reg.noKey': { vi: '  không có khoá thiết bị: {problem}', en: '  no device key: {problem}' },
  'reg.unknown': { vi: 'không rõ', en: 'unknown' },
  'reg.startedAt': { vi: 'khởi động lúc {at}', en: 'started at {at}' },
  'reg.birthAt': { vi: 'bản tin khởi động lúc {at}', en: 'birth at {at}' },
  'reg.after': { vi: ' ({time} sau khi đăng ký)', en: ' ({time} after registering)' },
  'reg.withConfig': { vi: ', sau khi cấu hình được ghi', en: ', after the configuration was written' },
  'reg.any': {
    vi: ' (--any: TRƯỚC khi cấu hình được ghi)',
    en: ' (--any: BEFORE the configuration was written)',
  },
  'reg.online': {
    vi: '{mark} agent đang trực tuyến: bootId {bootId}, agent {version}, {when}',
    en: '{mark} agent online: bootId {bootId}, agent {version}, {when}',
  },
  'reg.noBirth': {
    vi: '{mark} agent của {deviceId} không gửi bản tin khởi động trong {time}',
    en: '{mark} no birth from the agent of {deviceId} within {time}',
  },
  'reg.noBirth.hint': {
    vi: 'loa-agent có đang chạy không? sudo systemctl status loa-agent; xem log: sudo loa-provision logs -n 50 (rồi loa-provision check)',
    en: 'is loa-agent running? sudo systemctl status loa-agent; its log: sudo loa-provision logs -n 50 (then loa-provision check)',
  },
  'reg.failed': { vi: 'đăng ký thất bại: {error}', en: 'register failed: {error}' },
  'reg.waiting': {
    vi: 'đang chờ bản tin khởi động của agent trên {topic}',
    en: "waiting for the agent's birth on {topic}",
  },
  'reg.waitingUpTo': {
    vi: 'chờ tối đa {time} bản tin khởi động của agent trên {topic}',
    en: "waiting up to {time} for the agent's birth on {topic}",
  },
  'reg.stillWaiting': { vi: '  vẫn đang chờ ({elapsed} / {total})', en: '  still waiting ({elapsed} of {total})' },
  'reg.at': { vi: ' lúc {ts}', en: ' at {ts}' },
  'reg.wait.silent': {
    vi: 'broker giữ bản tin khởi động của bootId {bootId} ({ts}), nhưng không có heartbeat trong {s} s: agent đó đã mất; đang chờ bản tin khởi động mới',
    en: 'the broker holds a birth of bootId {bootId} ({ts}), but no heartbeat for {s} s: that agent is gone; waiting for a new birth',
  },
  'reg.old.started': {
    vi: 'agent đang chạy (bootId {bootId}) khởi động lúc {at}, trước khi cấu hình được ghi ({written}): nó đang chạy với cấu hình cũ',
    en: 'the agent running now (bootId {bootId}) started at {at}, before the configuration was written ({written}): it runs with the previous one',
  },
  'reg.old.connected': {
    vi: 'agent đang chạy (bootId {bootId}) kết nối lúc {at}, trước khi cấu hình được ghi ({written}): nó đang chạy với cấu hình cũ',
    en: 'the agent running now (bootId {bootId}) connected at {at}, before the configuration was written ({written}): it runs with the previous one',
  },
  'reg.old.todo': {
    vi: 'khởi động lại agent: sudo systemctl restart loa-agent, rồi chạy lại {register}',
    en: 'sudo systemctl restart loa-agent, then {register} again',
  },
  'reg.down': { vi: 'loa-agent không chạy (systemd: {unit})', en: 'loa-agent is not running (systemd: {unit})' },
  'reg.down.start': {
    vi: 'bật agent: sudo systemctl start loa-agent, rồi chạy lại {register}',
    en: 'sudo systemctl start loa-agent, then {register} again',
  },
  'reg.down.config': {
    vi: 'agent từ chối cấu hình: sudo loa-provision check{config} cho biết lý do; sửa xong thì sudo systemctl restart loa-agent rồi chạy lại {register}',
    en: 'it refused its configuration: sudo loa-provision check{config} says why; fix it, then sudo systemctl restart loa-agent and {register} again',
  },
  'reg.down.crashed': {
    vi: 'xem lý do: sudo loa-provision logs -n 50; rồi sudo systemctl restart loa-agent và chạy lại {register}',
    en: 'see why: sudo loa-provision logs -n 50; then sudo systemctl restart loa-agent and {register} again',
  },
  'reg.wait.restarting': {
    vi: 'systemd đang khởi động lại loa-agent sau sự cố ({unit}): đang chờ bản tin khởi động; nếu kéo dài, xem lý do: sudo loa-provision logs -n 50',
    en: 'systemd is restarting loa-agent after a failure ({unit}): waiting for its birth; if this lasts, see why: sudo loa-provision logs -n 50',
  },
  'reg.wait.offline': {
    vi: 'trạng thái cuối broker giữ là offline ({reason}{at}, bootId {bootId}{sd}): đang chờ bản tin khởi động của agent',
    en: "the broker's last status is offline ({reason}{at}, bootId {bootId}{sd}): waiting for the agent's birth",
  },
  'reg.wait.none': {
    vi: 'broker chưa có trạng thái nào của {deviceId} (agent chưa kết nối tới với device id này{sd}): đang chờ bản tin khởi động',
    en: 'the broker holds no status of {deviceId} yet (the agent has not reached it with this device id{sd}): waiting for its birth',
  },
  // --- show: the rows (at most 13 columns) and their values
  'show.row.groups': { vi: 'nhóm', en: 'groups' },
  'show.row.site': { vi: 'vị trí', en: 'site' },
  'show.row.position': { vi: 'toạ độ', en: 'position' },
  'show.row.installed': { vi: 'lắp đặt', en: 'installed' },
  'show.row.key': { vi: 'khoá thiết bị', en: 'device key' },
  'show.row.cert': { vi: 'chứng chỉ', en: 'certificate' },
  'show.row.broker': { vi: 'máy chủ MQTT', en: 'broker' },
  'show.row.tls': { vi: 'mã hoá TLS', en: 'TLS' },
  'show.row.board': { vi: 'bo mạch', en: 'board' },
  'show.row.audio': { vi: 'âm thanh', en: 'audio' },
  'show.row.trust': { vi: 'khoá tin cậy', en: 'trusted keys' },
  'show.row.dirs': { vi: 'thư mục', en: 'directories' },
  'show.row.commissioned': { vi: 'mức chuẩn', en: 'commissioned' },
  'show.row.lastSound': { vi: 'lần phát cuối', en: 'last sound' },
  'show.none': { vi: 'không có', en: 'none' },
  'show.code': { vi: 'mã {code}', en: 'code {code}' },
  'show.province': { vi: 'tỉnh {province}', en: 'province {province}' },
  'show.notRecorded': { vi: 'chưa ghi', en: 'not recorded' },
  'show.installed': { vi: '{at}, người lắp: {who}', en: '{at} by {who}' },
  'show.cert': { vi: '{subject}, cấp bởi {issuer}, {validity}', en: '{subject}, by {issuer}, {validity}' },
  'show.cert.days': { vi: 'còn hạn {days} ngày', en: 'valid {days} more days' },
  'show.cert.expired': { vi: 'HẾT HẠN', en: 'EXPIRED' },
  'show.cert.none': { vi: 'chưa có; {csr} đang chờ trung tâm ký', en: 'none yet; {csr} awaits signing by the centre' },
  'show.broker': {
    vi: '{url} (MQTT {version}), tài khoản {user}{password}',
    en: '{url} (MQTT {version}), user {user}{password}',
  },
  'show.broker.password': { vi: ', mật khẩu trong {file}', en: ', password in {file}' },
  'show.tls.none': { vi: 'không có (mqtt:// thường)', en: 'none (plain mqtt://)' },
  'show.tls.verified': { vi: 'xác minh máy chủ bằng {ca}', en: 'server verified by {ca}' },
  'show.tls.mutual': { vi: 'TLS hai chiều với {cert}', en: 'mutual TLS with {cert}' },
  'show.tls.noCert': { vi: 'không có chứng chỉ máy khách', en: 'no client certificate' },
  'show.board.mcu': {
    vi: 'mcu trên {path} ({baud} baud, watchdog {s} s)',
    en: 'mcu on {path} ({baud} baud, watchdog {s} s)',
  },
  'show.pin.low': { vi: ' (kích mức thấp)', en: ' (active low)' },
  'show.board.gpio': {
    vi: 'gpio ({backend}): ampli {amp}, fm {fm}, line {line}, lỗi {fault}',
    en: 'gpio ({backend}): amp {amp}, fm {fm}, line {line}, fault {fault}',
  },
  'show.board.sim': { vi: 'sim (không có phần cứng)', en: 'sim (no hardware)' },
  'show.audio': { vi: '{player} → {out}, âm lượng tối đa {max} %', en: '{player} → {out}, max volume {max} %' },
  'show.audio.paced': { vi: 'giả lập (không có card)', en: 'paced (no card)' },
  'show.trust.refused': { vi: ': MỌI {gaps} ĐỀU BỊ TỪ CHỐI', en: ': ALL {gaps} REFUSED' },
  'show.dirs': { vi: 'trạng thái {state}, cache {cache}', en: 'state {state}, cache {cache}' },
  'sound.none': {
    vi: 'chưa ghi (loa-provision check --tone sẽ ghi, trên bo mạch đo được)',
    en: 'none recorded (loa-provision check --tone records it on a board that measures)',
  },
  'sound.unusable': { vi: 'KHÔNG DÙNG ĐƯỢC: {why}', en: 'UNUSABLE: {why}' },
  'sound.baseline': {
    vi: 'độ khuếch đại {gain} dB, đầu ra {level} dB ở {volume} %, {line}; {at}{by}',
    en: 'gain {gain} dB, output {level} dB at {volume} %, {line}; {at}{by}',
  },
  'sound.by': { vi: ', người đo: {who}', en: ' by {who}' },
  'sound.noPlay': { vi: 'chưa có lần phát nào được đo', en: 'no measured play yet' },
  'sound.last': {
    vi: '{at} {itemId}: đầu ra {level} dB, độ khuếch đại {gain} dB{percent}{silent}',
    en: '{at} {itemId}: output {level} dB, gain {gain} dB{percent}{silent}',
  },
  'sound.percent': { vi: ' = {percent} % mức chuẩn{weak}', en: ' = {percent} % of commissioned{weak}' },
  'sound.weak': { vi: ' (YẾU)', en: ' (WEAK)' },
  'sound.silent': { vi: ', im lặng {s} s', en: ', silent {s} s' },
  // --- show: the live state
  'show.age.days': { vi: '{n} ngày', en: '{n} days' },
  'show.live.unknown': {
    vi: 'Trạng thái trực tiếp: KHÔNG RÕ: không kết nối được broker ({stage}: {detail})',
    en: 'Live state: UNKNOWN: the broker cannot be reached ({stage}: {detail})',
  },
  'show.agent.never': {
    vi: 'Agent: chưa từng thấy trên broker này (không có trạng thái retained)',
    en: 'Agent: never seen on this broker (no retained status)',
  },
  'show.agent.online': {
    vi: 'Agent: TRỰC TUYẾN từ {ts}, bootId {bootId}, agent {version}',
    en: 'Agent: ONLINE since {ts}, bootId {bootId}, agent {version}',
  },
  'show.agent.offline': {
    vi: 'Agent: NGOẠI TUYẾN ({reason}{at}), bootId cuối {bootId}',
    en: 'Agent: OFFLINE ({reason}{at}), last bootId {bootId}',
  },
  'show.hb.none': { vi: 'Heartbeat: broker không giữ heartbeat nào', en: 'Heartbeat: none retained' },
  'show.hb.stale': { vi: ' (CŨ)', en: ' (STALE)' },
  'show.ago': { vi: '{age} trước', en: '{age} ago' },
  'show.hb.otherBoot': { vi: ' (khác lần khởi động với trạng thái)', en: ' (another boot than the status)' },
  'show.hb': {
    vi: 'Heartbeat: {age}{stale}{same}, đã chạy {uptime}, trạng thái {state}',
    en: 'Heartbeat: {age}{stale}{same}, uptime {uptime}, state {state}',
  },
  'show.hb.playing': { vi: 'đang phát', en: 'playing' },
  'show.hb.volume': { vi: '{what}; âm lượng {volume}', en: '{what}; volume {volume}' },
  'show.hb.nothing': { vi: 'không phát gì', en: 'nothing' },
  'show.hb.faults': { vi: 'lỗi', en: 'faults' },
  'show.hb.amp': { vi: '{faults}; ampli {amp}', en: '{faults}; amplifier {amp}' },
  'show.hb.stateFault': { vi: 'trạng thái lỗi', en: 'state fault' },
  'show.hb.ampFault': { vi: 'ampli lỗi', en: 'amplifier fault' },
  'show.hb.on': { vi: 'bật', en: 'on' },
  'show.hb.off': { vi: 'tắt', en: 'off' },
  'show.hb.outbox': { vi: 'hàng đợi', en: 'outbox' },
  'show.hb.events': { vi: '{n} sự kiện chờ gửi', en: '{n} event(s) waiting' },
  'show.hb.schedules': { vi: 'lịch phát', en: 'schedules' },
  'show.lastCheck': { vi: 'Lần check cuối: {result} lúc {ts} ({time})', en: 'Last check: {result} at {ts} ({time})' },
  'show.check.passed': { vi: 'ĐẠT', en: 'passed' },
  'show.check.failed': { vi: 'CÓ LỖI', en: 'FAILED' },
  // --- show: the refusals
  'show.refused.none': { vi: 'Bị từ chối gần đây: không thấy', en: 'Refused lately: none found' },
  'show.refused': {
    vi: 'Bị từ chối gần đây ({n} lần cuối, cũ nhất trước):',
    en: 'Refused lately (the last {n}, oldest first):',
  },
  'show.notRead': { vi: '  (không đọc được: {what})', en: '  (not read: {what})' },
  'show.notRead.journal': { vi: 'nhật ký: {problem}', en: 'journal: {problem}' },
  'show.notRead.outbox': { vi: 'hàng đợi: {problem}', en: 'outbox: {problem}' },
  'refused.schedule': { vi: 'lịch phát', en: 'schedule' },
  'refused.command': { vi: 'lệnh', en: 'command' },
  'refused.sudo': {
    vi: ' (chạy bằng sudo: thư mục trạng thái là của agent)',
    en: " (run with sudo: the state directory is the agent's)",
  },
  'refused.noDb': {
    vi: 'không có {path} (agent chưa từng chạy với stateDir này)',
    en: 'no {path} (the agent has not run with this stateDir)',
  },
  'refused.unreadable': { vi: 'không đọc được {path}{sudo}', en: '{path} cannot be read{sudo}' },
  'refused.cannotOpen': { vi: 'không mở được', en: 'cannot be opened' },
  'refused.dbProblem': { vi: '{path}: {why}{sudo}', en: '{path} {why}{sudo}' },
  // --- logs
  'journal.missing': {
    vi: 'không có journalctl (máy này không có nhật ký systemd)',
    en: 'journalctl not found (no systemd journal on this machine)',
  },
  'journal.empty': {
    vi: 'không có dòng log nào của {unit} trong nhật ký{said}{sudo}',
    en: 'no log line of {unit} in the journal{said}{sudo}',
  },
  'journal.sudo': {
    vi: '; chạy bằng sudo để đọc nhật ký hệ thống',
    en: '; run with sudo to read the system journal',
  },
  'logs.lines': {
    vi: '-n "{n}" không phải số dòng (từ 1 trở lên)',
    en: '-n "{n}" is not a number of lines (1 or more)',
  },
  'logs.level': { vi: '--level "{level}" không thuộc: {levels}', en: '--level "{level}" is not one of {levels}' },
} as const satisfies Record<string, { vi: string; en: string }>;
