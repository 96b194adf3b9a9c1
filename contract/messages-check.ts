// Part of the one message catalogue (contract/messages.ts spreads it into MESSAGES, and
// test/unit/messages.test.ts checks it there): `loa-provision check`, its check names,
// details, hints and totals, and the hardware verdicts it shares with the agent's remote
// selftest (agent/domain/hardware-verdicts.ts, which the agent calls in English). A
// separate file only to keep each under the layout's 400 lines.
//
// Commands, paths, config keys, units and codes stay as they are inside the Vietnamese.

export const CHECK_MESSAGES = {
  // --- the checks' names, as the checklist shows them (the report keeps the English)
  'check.name.config': { vi: 'cấu hình hợp lệ', en: 'config valid' },
  'check.name.trust': { vi: 'khoá tin cậy', en: 'trusted keys' },
  'check.name.clock': { vi: 'đồng bộ đồng hồ', en: 'clock synchronised' },
  'check.name.disk': { vi: 'dung lượng trống', en: 'disk space' },
  'check.name.stateDir': { vi: 'thư mục trạng thái', en: 'state directory' },
  'check.name.cacheDir': { vi: 'thư mục cache', en: 'cache directory' },
  'check.name.cert': { vi: 'chứng chỉ thiết bị', en: 'device certificate' },
  'check.name.dns': { vi: 'phân giải DNS', en: 'DNS' },
  'check.name.broker': { vi: 'kết nối broker', en: 'broker reachable' },
  'check.name.mcu': { vi: 'vi điều khiển', en: 'microcontroller' },
  'check.name.status': { vi: 'trạng thái bo mạch', en: 'status' },
  'check.name.door': { vi: 'cửa tủ', en: 'cabinet door' },
  'check.name.mains': { vi: 'điện lưới', en: 'mains power' },
  'check.name.battery': { vi: 'ắc quy', en: 'battery' },
  'check.name.amp': { vi: 'ampli', en: 'amplifier' },
  'check.name.line': { vi: 'dây loa', en: 'speaker line' },
  'check.name.fm': { vi: 'bộ thu FM', en: 'FM tuner' },
  'check.name.tone': { vi: 'chuông thử', en: 'test tone' },
  'check.name.commissioning': { vi: 'mức chuẩn', en: 'commissioning level' },
  'check.name.board': { vi: 'bo mạch IO', en: 'IO board' },
  'check.name.ampRelay': { vi: 'rơ-le ampli', en: 'amplifier relay' },
  'check.name.ampFault': { vi: 'tín hiệu lỗi ampli', en: 'amplifier fault input' },
  // --- the totals and the run
  'check.sum': { vi: '{parts} trong {time}{longest}', en: '{parts} in {time}{longest}' },
  'check.sum.passed': { vi: '{n} đạt', en: '{n} passed' },
  'check.sum.failed': { vi: '{n} lỗi', en: '{n} failed' },
  'check.sum.warning': { vi: '{n} cảnh báo', en: '{n} warning' },
  'check.sum.warnings': { vi: '{n} cảnh báo', en: '{n} warnings' },
  'check.sum.skipped': { vi: '{n} bỏ qua', en: '{n} skipped' },
  'check.sum.longest': { vi: ' (lâu nhất: {name}, {time})', en: ' (longest: {name}, {time})' },
  'check.unexpected': { vi: 'lỗi không lường trước: {message}', en: 'unexpected error: {message}' },
  'check.unexpected.hint': {
    vi: 'chạy lại với LOA_DEBUG=1 và gửi báo lỗi kèm toàn bộ kết quả in ra',
    en: 'run again with LOA_DEBUG=1 and report it with the output',
  },
  'check.needConfig': {
    vi: 'các bước kiểm tra khác cần một cấu hình hợp lệ',
    en: 'the other checks need a valid configuration',
  },
  'check.flag.mqttVersion': {
    vi: '--mqtt-version phải là 5 hoặc 3.1.1 (nhận được "{v}")',
    en: '--mqtt-version must be 5 or 3.1.1 (got "{v}")',
  },
  'check.flag.fm': {
    vi: '--fm "{fm}" không phải tần số FM (87.5 đến 108.0 MHz)',
    en: '--fm "{fm}" is not an FM frequency (87.5 to 108.0 MHz)',
  },
  'check.flag.rebaseline': {
    vi: '--rebaseline thay mức chuẩn mà chuông thử đo được: thêm --tone',
    en: '--rebaseline replaces the level the tone measures: add --tone',
  },
  'check.flag.volume': {
    vi: '--volume "{volume}" không nằm trong 0 đến 100',
    en: '--volume "{volume}" is not 0 to 100',
  },
  'check.needsDns': { vi: 'cần DNS', en: 'needs DNS' },
  'check.needsMcu': { vi: 'cần vi điều khiển', en: 'needs the microcontroller' },
  'check.agentStopped': {
    vi: 'loa-agent đang dừng: bật lại bằng  sudo systemctl start loa-agent',
    en: 'loa-agent is stopped: start it again with  sudo systemctl start loa-agent',
  },
  'check.report.written': { vi: 'báo cáo: {path}', en: 'report: {path}' },
  'check.report.notWritten': {
    vi: 'không ghi được báo cáo vào {path}: {error}',
    en: 'report not written to {path}: {error}',
  },
  'check.report.published': {
    vi: 'đã gửi báo cáo lên {topic} (retained)',
    en: 'report published to {topic} (retained)',
  },
  'check.report.unreachable': {
    vi: 'CHƯA gửi được báo cáo lên {topic}: không kết nối được broker (xem ở trên)',
    en: 'report NOT published to {topic}: the broker could not be reached (see above)',
  },
  'check.report.notPublished': {
    vi: 'CHƯA gửi được báo cáo lên {topic}: {error}',
    en: 'report NOT published to {topic}: {error}',
  },
  // --- config, clock, disk, directories
  'check.config.ok': {
    vi: '{path}: thiết bị {deviceId}, bo mạch {board}',
    en: '{path}: device {deviceId}, board {board}',
  },
  'check.config.problem': { vi: '{code}: {n} lỗi', en: '{code}: {n} problem' },
  'check.config.problems': { vi: '{code}: {n} lỗi', en: '{code}: {n} problems' },
  'check.config.missing': {
    vi: 'chạy loa-provision init trước (hoặc thêm --config PATH)',
    en: 'run loa-provision init first (or pass --config PATH)',
  },
  'check.config.chmod': { vi: 'chạy lệnh chmod ở trên', en: 'run the chmod shown above' },
  'check.config.fix': {
    vi: 'sửa các trường liệt kê ở trên, hoặc chạy lại loa-provision init',
    en: 'fix the fields listed above, or run loa-provision init again',
  },
  'check.clock.now': { vi: 'bây giờ {time}', en: 'now {time}' },
  'check.clock.ok': { vi: 'đã đồng bộ ({source}), {at}', en: 'synchronised ({source}), {at}' },
  'check.clock.why': {
    vi: 'lịch sẽ phát sai giờ và chứng chỉ TLS bị coi là hết hạn',
    en: 'schedules would play at the wrong time and TLS certificates look expired',
  },
  'check.clock.not': { vi: 'CHƯA đồng bộ: {source}, {at}', en: 'NOT synchronised: {source}, {at}' },
  'check.clock.not.hint': {
    vi: '{why}; kiểm tra mạng, rồi chạy: sudo timedatectl set-ntp true; timedatectl timesync-status',
    en: '{why}; check the network, then: sudo timedatectl set-ntp true; timedatectl timesync-status',
  },
  'check.clock.unknown': { vi: 'không xác định được: {source}, {at}', en: 'cannot tell: {source}, {at}' },
  'check.clock.unknown.hint': {
    vi: 'so giờ ở trên với điện thoại của bạn; nếu sai thì {why}',
    en: 'compare the time above with your phone; {why} if it is wrong',
  },
  'check.clock.timesyncWaiting': {
    vi: 'systemd-timesyncd (chưa đồng bộ xong)',
    en: 'systemd-timesyncd (not synchronised yet)',
  },
  'check.clock.chrony': { vi: 'chrony (trạng thái leap {leap})', en: 'chrony (leap status {leap})' },
  'check.clock.noService': {
    vi: 'không dịch vụ đồng bộ giờ nào trả lời (timesyncd, timedatectl, chrony)',
    en: 'no time-sync service answered (timesyncd, timedatectl, chrony)',
  },
  'check.disk': { vi: 'trạng thái {state}, cache {cache}: {detail}', en: 'state {state}, cache {cache}: {detail}' },
  'check.dir.perm': {
    vi: 'không có quyền: sudo chown -R loa:loa {dir} (hoặc chạy check bằng sudo)',
    en: 'no permission: sudo chown -R loa:loa {dir} (or run the check with sudo)',
  },
  'check.dir.rofs': {
    vi: 'hệ thống tệp chỉ đọc: thẻ SD có thể sắp hỏng (dmesg | grep -i mmc) hoặc đang gắn ở chế độ chỉ đọc',
    en: 'the file system is read-only: the SD card may be failing (dmesg | grep -i mmc) or mounted read-only',
  },
  'check.dir.full': { vi: 'đĩa đầy: xem dòng dung lượng trống', en: 'the disk is full: see the disk space line' },
  'check.dir.notDir': {
    vi: 'một phần của {dir} là tệp, không phải thư mục: sửa đường dẫn trong cấu hình',
    en: 'part of {dir} is a file, not a directory: fix the path in the config',
  },
  'check.dir.other': { vi: 'kiểm tra {dir} (ls -ld {dir})', en: 'check {dir} (ls -ld {dir})' },
  'check.dir.agentCannot': {
    vi: '{dir}: root ghi được nhưng user {user} của agent thì không (chủ {owner}, quyền {mode})',
    en: "{dir}: root can write, but not the agent's user {user} (owner {owner}, mode {mode})",
  },
  'check.dir.chown': {
    vi: 'cho agent quyền ghi: sudo chown -R {user}:{user} {dir}',
    en: 'sudo chown -R {user}:{user} {dir}',
  },
  'check.dir.ok1': { vi: '{dir} ({n} mục)', en: '{dir} ({n} entry)' },
  'check.dir.ok': { vi: '{dir} ({n} mục)', en: '{dir} ({n} entries)' },
  // --- certificate, DNS, broker
  'check.cert.plain': {
    vi: 'mqtt:// thường: không TLS, không chứng chỉ máy khách',
    en: 'plain mqtt://: no TLS, no client certificate',
  },
  'check.cert.plain.hint': {
    vi: 'dùng mqtts:// khi không phải trong phòng thí nghiệm',
    en: 'use mqtts:// outside a lab',
  },
  'check.cert.awaits': { vi: ' ({csr} đang chờ trung tâm ký)', en: ' ({csr} awaits signing)' },
  'check.cert.none': {
    vi: 'chưa cấu hình: broker phải chấp nhận chỉ mật khẩu{waiting}',
    en: 'none configured: the broker must accept the password alone{waiting}',
  },
  'check.cert.none.hint': {
    vi: 'nếu broker đòi TLS hai chiều: loa-provision init --cert SIGNED.crt',
    en: 'if the broker requires mutual TLS: loa-provision init --cert SIGNED.crt',
  },
  'check.cert.notPem': {
    vi: '{path}: không phải chứng chỉ PEM ({error})',
    en: '{path}: not a PEM certificate ({error})',
  },
  'check.cert.install': {
    vi: 'cài chứng chỉ trung tâm đã ký: loa-provision init --cert FILE',
    en: 'install the certificate the centre signed: loa-provision init --cert FILE',
  },
  'check.cert.mismatch': { vi: '{cert} không thuộc về {key}', en: '{cert} does not belong to {key}' },
  'check.cert.mismatch.hint': {
    vi: 'chứng chỉ này làm cho một khoá khác: gửi device.csr của hộp này cho trung tâm rồi cài chứng chỉ mới',
    en: "the certificate was made for another key: send this box's device.csr to the centre and install the new certificate",
  },
  'check.cert.keyUnreadable': {
    vi: '{key}: không đọc được khoá ({error})',
    en: '{key}: cannot read the key ({error})',
  },
  'check.runAsRoot': { vi: 'chạy với quyền root (sudo)', en: 'run as root (sudo)' },
  'check.cert.detail': {
    vi: '{subject}, cấp bởi {issuer}, hạn đến {date}',
    en: '{subject}, issued by {issuer}, valid until {date}',
  },
  'check.cert.notYet': { vi: 'chưa có hiệu lực trước {from}: {detail}', en: 'not valid before {from}: {detail}' },
  'check.cert.notYet.hint': {
    vi: 'đồng hồ của hộp bị chậm (xem dòng đồng hồ), hoặc trung tâm ghi ngày trong tương lai',
    en: 'the clock is behind (see the clock line), or the centre dated it in the future',
  },
  'check.cert.expired': { vi: 'HẾT HẠN: {detail}', en: 'EXPIRED: {detail}' },
  'check.cert.expired.hint': {
    vi: 'xin trung tâm chứng chỉ mới cho device.csr, rồi chạy loa-provision init --cert FILE',
    en: 'ask the centre for a new certificate for device.csr, then loa-provision init --cert FILE',
  },
  'check.cert.soon': { vi: 'hết hạn sau {days} ngày: {detail}', en: 'expires in {days} days: {detail}' },
  'check.cert.soon.hint': {
    vi: 'xin trung tâm gia hạn trước khi hết hạn',
    en: 'ask the centre to renew it before it expires',
  },
  'check.dns.ip': { vi: '{host} là địa chỉ IP (không cần tra)', en: '{host} is an IP address (no lookup)' },
  'check.connecting': { vi: 'đang kết nối {host}:{port}', en: 'connecting to {host}:{port}' },
  'check.broker.verified': { vi: 'đã xác minh máy chủ ({peer})', en: 'server verified ({peer})' },
  'check.broker.unverified': {
    vi: 'KHÔNG xác minh máy chủ (insecureSkipVerify)',
    en: 'server NOT verified (insecureSkipVerify)',
  },
  'check.broker.clientCert': { vi: ', chứng chỉ máy khách', en: ', client certificate' },
  'check.broker.noTls': { vi: 'không TLS', en: 'no TLS' },
  'check.broker.user': { vi: 'tài khoản {user}', en: 'user {user}' },
  'check.broker.noUser': { vi: 'không có tên đăng nhập', en: 'no username' },
  'check.broker.ok': {
    vi: '{url}: {tls}, {auth}, MQTT {version} với client id {clientId} ({steps})',
    en: '{url}: {tls}, {auth}, MQTT {version} as {clientId} ({steps})',
  },
  'check.broker.v5refused': {
    vi: '{what}; MQTT 5 bị từ chối ({refused})',
    en: '{what}; MQTT 5 was refused ({refused})',
  },
  'check.broker.v5refused.hint': {
    vi: 'broker chỉ nói MQTT 3.1.1 mà cấu hình của agent đòi 5: loa-provision init --mqtt-version 3.1.1, rồi khởi động lại agent',
    en: "the broker speaks MQTT 3.1.1 only and the agent's config asks for 5: loa-provision init --mqtt-version 3.1.1, then restart the agent",
  },
  'check.broker.forced.hint': {
    vi: 'agent kết nối bằng mqtt.version {version}, chưa được kiểm tra ở đây: chạy lại không có --mqtt-version để kiểm tra',
    en: 'the agent connects with mqtt.version {version}, not checked here: run without --mqtt-version to check it',
  },
} as const satisfies Record<string, { vi: string; en: string }>;
