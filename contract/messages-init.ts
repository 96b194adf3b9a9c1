// Part of the one message catalogue (contract/messages.ts spreads it into MESSAGES):
// loa-provision init (its questions, help, summary, what it wrote and the next steps),
// page-password, the prompts, and the command line itself (usage, unknown command). A
// separate file only to keep each under the layout's 400 lines. Commands, paths, config
// keys and flags stay as they are inside the Vietnamese.

export const INIT_MESSAGES = {
  // --- the command line
  'cli.sum.init': {
    vi: 'hỏi (hoặc nhận qua cờ) danh tính, vị trí, broker, khoá, phần cứng; ghi cấu hình, khoá và CSR',
    en: 'ask (or take flags for) identity, site, broker, keys, hardware; write the config, key and CSR',
  },
  'cli.sum.check': {
    vi: 'tự kiểm tra: cấu hình, khoá tin cậy, đồng hồ, đĩa, DNS, broker, bo mạch IO, FM, chuông thử, cache',
    en: 'self-test checklist: config, trusted keys, clock, disk, DNS, broker, IO board, FM, tone, cache',
  },
  'cli.sum.register': {
    vi: 'gửi danh tính của hộp lên trung tâm; xác nhận agent đang chạy dùng cấu hình này',
    en: "publish the box's identity to the centre; confirm the running agent uses this configuration",
  },
  'cli.sum.show': {
    vi: 'danh tính, vân tay khoá, tóm tắt cấu hình, trạng thái trực tiếp của agent và các lần từ chối gần đây',
    en: "identity, key fingerprint, config summary, the agent's live state and its last refusals",
  },
  'cli.sum.logs': {
    vi: 'nhật ký của agent, mỗi sự kiện một dòng dễ đọc (-n 50, -f để theo dõi)',
    en: "the agent's journal, one readable line per event (-n 50, -f to follow)",
  },
  'cli.sum.pagePassword': {
    vi: 'đặt mật khẩu trang web của hộp cho điện thoại kỹ thuật viên (và bật trang)',
    en: "set the password of the box's page for the technician's phone (and turn it on)",
  },
  'cli.usage.lang': {
    vi: 'Mọi lệnh nhận --lang vi|en (mặc định: theo LANG / LC_ALL, nếu không thì tiếng Anh).',
    en: 'Every command takes --lang vi|en (default: from LANG / LC_ALL, else English).',
  },
  'cli.usage.order': {
    vi: 'Thứ tự trên một hộp: init, check (khi agent dừng), bật agent, register.',
    en: 'Order on a box: init, check (agent stopped), start the agent, register.',
  },
  'cli.usage.exit': {
    vi: 'Mã thoát: 0 tốt, 1 một bước kiểm tra hoặc thao tác lỗi, 64 dòng lệnh sai, 78 cấu hình không hợp lệ.',
    en: 'Exit codes: 0 ok, 1 a check or step failed, 64 bad command line, 78 invalid configuration.',
  },
  'cli.unknown': {
    vi: 'loa-provision: không có lệnh "{name}" (chọn một trong: {names})',
    en: 'loa-provision: unknown command "{name}" (one of {names})',
  },
  'cli.lang.missing': {
    vi: 'loa-provision: --lang cần một giá trị: vi hoặc en',
    en: 'loa-provision: --lang needs a value: vi or en',
  },
  'cli.lang.bad': {
    vi: 'loa-provision: --lang phải là vi hoặc en (nhận được "{lang}")',
    en: 'loa-provision: --lang must be vi or en (got "{lang}")',
  },
  'cli.interrupted': { vi: 'đã dừng (Ctrl-C): chưa ghi gì', en: 'interrupted (Ctrl-C): nothing written' },
  'cli.inputEnded': {
    vi: 'đầu vào kết thúc trước khi trả lời hết câu hỏi: chưa ghi gì (dùng --yes và các cờ khi chạy bằng script)',
    en: 'input ended before every question was answered: nothing written (use --yes and flags for scripted use)',
  },
  'cli.unexpected': { vi: 'lỗi không lường trước: {error}', en: 'unexpected error: {error}' },
  'prompt.keep': { vi: 'giữ nguyên', en: 'keep current' },
  'prompt.yesNo': { vi: '  trả lời y (có) hoặc n (không)', en: '  answer y or n' },
  // --- init: the questions (the agent's schema says what is wrong with an answer, in English)
  'init.none': { vi: 'không có', en: 'none' },
  'init.f.communeName': { vi: 'Tên xã', en: 'Commune name' },
  'init.f.communeName.help': {
    vi: 'như trung tâm gọi, ví dụ Xã Bình Chánh',
    en: 'as the centre calls it, e.g. Xã Bình Chánh',
  },
  'init.f.communeCode': { vi: 'Mã xã', en: 'Commune code' },
  'init.f.communeCode.help': {
    vi: 'mã đơn vị hành chính của Tổng cục Thống kê, ví dụ 26734',
    en: 'the GSO administrative code, e.g. 26734',
  },
  'init.f.province': { vi: 'Mã tỉnh', en: 'Province code' },
  'init.f.province.help': { vi: 'ví dụ 79 là TP. Hồ Chí Minh', en: 'e.g. 79 for Ho Chi Minh City' },
  'init.f.deviceId': { vi: 'Mã thiết bị', en: 'Device id' },
  'init.f.deviceId.help': {
    vi: 'chữ thường, số, . _ - (nhãn dán trên hộp), ví dụ vn-79-26734-01',
    en: 'lower case letters, digits, . _ - (the label on the box), e.g. vn-79-26734-01',
  },
  'init.f.groups': { vi: 'Nhóm', en: 'Groups' },
  'init.f.groups.help': {
    vi: 'cách nhau bằng dấu phẩy: mọi nhóm có lịch phát mà hộp này phát',
    en: 'comma-separated: every group whose schedules this box plays',
  },
  'init.f.lat': { vi: 'Vĩ độ', en: 'Latitude' },
  'init.f.lat.help': {
    vi: 'độ thập phân từ GPS của điện thoại, ví dụ 10.68 (dấu phẩy cũng được)',
    en: "decimal degrees from the phone's GPS, e.g. 10.68",
  },
  'init.f.lon': { vi: 'Kinh độ', en: 'Longitude' },
  'init.f.lon.help': { vi: 'độ thập phân, ví dụ 106.57', en: 'decimal degrees, e.g. 106.57' },
  'init.f.installer': { vi: 'Người lắp đặt', en: 'Installer' },
  'init.f.installer.help': { vi: 'tên hoặc mã nhân viên của bạn', en: 'your name or staff id' },
  'init.f.broker': { vi: 'Địa chỉ broker', en: 'Broker URL' },
  'init.f.broker.help': { vi: 'ví dụ mqtts://broker.example.vn:8883', en: 'e.g. mqtts://broker.example.vn:8883' },
  'init.f.username': { vi: 'Tên đăng nhập broker', en: 'Broker username' },
  'init.f.board': { vi: 'Bo mạch IO', en: 'IO board' },
  'init.f.board.help': {
    vi: 'mcu (vi điều khiển IO qua cổng serial), gpio (rơ-le trên chân cắm của Pi) hoặc sim (không có phần cứng)',
    en: 'mcu (the IO microcontroller on serial), gpio (relays on the Pi header) or sim (no hardware)',
  },
  'init.f.serial': { vi: 'Cổng serial của bo mạch IO', en: 'IO board serial port' },
  'init.f.pinAmp': { vi: 'GPIO rơ-le ampli', en: 'Amplifier relay GPIO' },
  'init.f.pinAmp.help': {
    vi: 'số BCM, thêm ":low" nếu rơ-le kích mức thấp, ví dụ 17:low',
    en: 'BCM number, ":low" if the relay is active low, e.g. 17:low',
  },
  'init.f.pinFm': { vi: 'GPIO rơ-le đầu vào FM', en: 'FM input relay GPIO' },
  'init.f.pinLine': { vi: 'GPIO rơ-le đầu vào line', en: 'Line input relay GPIO' },
  'init.f.pinFault': { vi: 'GPIO đầu vào báo lỗi ampli', en: 'Amplifier fault input GPIO' },
  'init.password': { vi: 'Mật khẩu broker', en: 'Broker password' },
  'init.password.help': { vi: 'không hiện khi gõ; "-" để xoá', en: 'not shown as you type; "-" removes it' },
  'init.ca': { vi: 'Tệp chứng chỉ CA của broker', en: 'Broker CA certificate file' },
  'init.ca.system': { vi: 'CA của hệ thống', en: 'system CAs' },
  'init.ca.help': {
    vi: 'tệp PEM trung tâm gửi: CA đã ký chứng chỉ của broker',
    en: "the PEM file from the centre that signed the broker's certificate",
  },
  'init.ca.bad': { vi: 'chứng chỉ CA {path}: {why}', en: 'CA certificate {path} {why}' },
  'init.ca.missing': { vi: 'không tồn tại', en: 'does not exist' },
  'init.ca.notPem': { vi: 'không phải chứng chỉ PEM', en: 'is not a PEM certificate' },
  'init.ca.give': {
    vi: '  dùng tệp CA trung tâm gửi (PEM, "-----BEGIN CERTIFICATE-----")',
    en: '  give the CA file the centre sent (PEM, "-----BEGIN CERTIFICATE-----")',
  },
  'init.keys.now': {
    vi: 'Khoá tin cậy của trung tâm (lịch phát và lệnh phải do một trong các khoá này ký): {keys}',
    en: 'Trusted centre keys (schedules and commands must be signed by one): {keys}',
  },
  'init.keys.help': {
    vi: 'dán dòng "noc keys" in ra ({"kid":…,"publicKey":…}, hoặc một [danh sách]), hoặc gõ kid=publicKey; Enter khi xong; "-" để xoá hết',
    en: 'paste what "noc keys" printed ({"kid":…,"publicKey":…}, or a [list]), or type kid=publicKey; Enter when done; "-" removes all',
  },
  'init.keys.add': { vi: 'Thêm khoá tin cậy', en: 'Add a trusted key' },
  'init.keys.done': { vi: 'xong', en: 'done' },
  'init.keys.emptied': { vi: '  (đã xoá hết danh sách)', en: '  (list emptied)' },
  'init.keys.more': { vi: '  (phần còn lại của JSON)', en: '  (the rest of the JSON)' },
  'init.keys.unclosed': { vi: 'JSON chưa đóng ngoặc', en: 'the JSON was not closed' },
  'init.keys.added1': { vi: '  đã thêm {keys} ({n} khoá)', en: '  added {keys} ({n} key)' },
  'init.keys.added': { vi: '  đã thêm {keys} ({n} khoá)', en: '  added {keys} ({n} keys)' },
  'init.keys.warn': {
    vi: '  cảnh báo: không có khoá cho {gaps} thì hộp từ chối tất cả (kể cả tin khẩn); hãy thêm trước khi hộp cần phát',
    en: '  warning: with no key for {gaps} the box refuses every one of them (emergencies too); add one before it must play',
  },
  'trust.forms': {
    vi: '{"kid":"…","publicKey":"…"} như "noc keys" in ra, hoặc kid=publicKey',
    en: '{"kid":"…","publicKey":"…"} as "noc keys" prints it, or kid=publicKey',
  },
  'trust.badJson': {
    vi: 'JSON không hợp lệ ({error}); cần dạng {forms}',
    en: 'not valid JSON ({error}); expected {forms}',
  },
  'trust.notForm': { vi: '"{text}" không đúng dạng {forms}', en: '"{text}" is not {forms}' },
  'trust.emptyList': { vi: 'danh sách rỗng: không có khoá nào', en: 'an empty list: no key in it' },
  'trust.where': { vi: 'khoá {n}: ', en: 'key {n}: ' },
  'trust.notKey': {
    vi: '{where}{json} không phải là khoá; cần dạng {forms}',
    en: '{where}{json} is not a key; expected {forms}',
  },
  'trust.field': {
    vi: '{where}"{field}" không phải trường của khoá tin cậy (kid, publicKey, roles)',
    en: '{where}"{field}" is not a field of a trusted key (kid, publicKey, roles)',
  },
  'trust.both': {
    vi: '{where}phải có cả "kid" và "publicKey", dạng chữ; cần dạng {forms}',
    en: '{where}"kid" and "publicKey" must both be there, as text; expected {forms}',
  },
  'trust.roles': {
    vi: '{where}"roles" không phải danh sách tên vai trò',
    en: '{where}"roles" is not a list of role names',
  },
  // --- init: the summary, what it wrote, the next steps
  'init.sum': { vi: 'Tóm tắt:', en: 'Summary:' },
  'init.sum.l.device': { vi: 'thiết bị', en: 'device' },
  'init.sum.l.site': { vi: 'vị trí', en: 'site' },
  'init.sum.l.broker': { vi: 'máy chủ', en: 'broker' },
  'init.sum.l.keys': { vi: 'khoá', en: 'keys' },
  'init.sum.l.board': { vi: 'bo mạch', en: 'board' },
  'init.sum.device': { vi: '{id}  nhóm {groups}', en: '{id}  groups {groups}' },
  'init.sum.site': { vi: '{site}  toạ độ {lat}, {lon}', en: '{site}  at {lat}, {lon}' },
  'init.sum.broker': {
    vi: '{url}  tài khoản {user}  mật khẩu {pw}  CA {ca}',
    en: '{url}  user {user}  password {pw}  CA {ca}',
  },
  'init.sum.removed': { vi: 'đã xoá', en: 'removed' },
  'init.sum.set': { vi: 'đã đặt', en: 'set' },
  'init.sum.systemCa': { vi: 'của hệ thống', en: 'system' },
  'init.sum.mcu': { vi: 'mcu trên {path}', en: 'mcu on {path}' },
  'init.writes': { vi: 'loa-provision init: sẽ ghi {path}', en: 'loa-provision init: writes {path}' },
  'init.howto': {
    vi: 'Enter giữ giá trị trong [ngoặc vuông], "-" để xoá, Ctrl-C để dừng mà không ghi gì.',
    en: 'Enter keeps the value in [brackets], "-" clears it, Ctrl-C stops without writing anything.',
  },
  'init.confirm': { vi: 'Ghi {path}?', en: 'Write {path}?' },
  'init.nothingWritten': { vi: 'chưa ghi gì', en: 'nothing written' },
  'init.invalid': {
    vi: 'cấu hình sẽ không hợp lệ; chưa ghi gì',
    en: 'the configuration would be invalid; nothing written',
  },
  'init.fromExisting': {
    vi: '  (các giá trị không nhập được lấy từ cấu hình cũ; --fresh để bỏ qua cấu hình cũ)',
    en: '  (values not given were taken from the existing config; --fresh ignores it)',
  },
  'init.plainWarn': {
    vi: 'cảnh báo: mqtt:// gửi mật khẩu broker không mã hoá; dùng mqtts:// trên mọi mạng trừ phòng thí nghiệm',
    en: 'warning: mqtt:// sends the broker password unencrypted; use mqtts:// on any network but a lab',
  },
  'init.badTrustedKey': { vi: '--trusted-key: không phải khoá', en: '--trusted-key: not a key' },
  'init.jsonNotClosed': { vi: 'JSON chưa đóng ngoặc', en: 'the JSON is not closed' },
  'init.keyWhy': {
    vi: 'loại khoá chứng chỉ máy khách mà mọi broker MQTT và CA đều nhận (Ed25519 thì không, ví dụ AWS IoT)',
    en: 'the client-certificate key type every MQTT broker and CA accepts (Ed25519 is not, e.g. on AWS IoT)',
  },
  'init.w.oldKey': { vi: '{path}  khoá thiết bị cũ', en: '{path}  previous device key' },
  'init.w.newKey': {
    vi: '{path}  khoá riêng của thiết bị, mới (0600): {alg}, {why}',
    en: '{path}  device private key, new (0600): {alg}, {why}',
  },
  'init.w.keptKey': {
    vi: '{path}  khoá riêng của thiết bị, giữ nguyên ({type})',
    en: '{path}  device private key, kept ({type})',
  },
  'init.w.csr': {
    vi: '{path}  yêu cầu ký chứng chỉ (CSR) {subject}',
    en: '{path}  certificate signing request {subject}',
  },
  'init.csrFailed': {
    vi: 'cảnh báo: chưa tạo được CSR ({error}); tạo bằng tay:',
    en: 'warning: the CSR was not made ({error}); make it by hand:',
  },
  'init.w.password': { vi: '{path}  mật khẩu broker (0600)', en: '{path}  broker password (0600)' },
  'init.w.ca': {
    vi: '{path}  chứng chỉ CA của broker (chép từ {from})',
    en: '{path}  broker CA certificate (copied from {from})',
  },
  'init.w.cert': { vi: '{path}  chứng chỉ thiết bị (từ {from})', en: '{path}  device certificate (from {from})' },
  'init.w.config': { vi: '{path}  cấu hình agent (0640){backup}', en: '{path}  agent configuration (0640){backup}' },
  'init.w.backup': { vi: '; bản cũ lưu ở {path}', en: '; previous one kept as {path}' },
  'init.written': { vi: 'Đã ghi:', en: 'Written:' },
  'init.fp': { vi: 'Vân tay khoá thiết bị (sha256): {fp} …', en: 'Device key fingerprint (sha256): {fp} …' },
  'init.fpFull': { vi: '  đầy đủ: {fp}', en: '  full: {fp}' },
  'init.noTrust': {
    vi: 'cảnh báo: không có khoá tin cậy của trung tâm cho {gaps}: hộp sẽ từ chối tất cả',
    en: 'warning: no trusted centre key for {gaps}: the box will refuse every one of them',
  },
  'init.asRoot': {
    vi: '  chạy với quyền root: sudo loa-provision init …',
    en: '  run it as root: sudo loa-provision init …',
  },
  'init.writeFailed': { vi: 'ghi thất bại: {error}', en: 'writing failed: {error}' },
  'init.already': { vi: '  đã ghi:', en: '  already written:' },
  'init.notJson': {
    vi: 'lưu ý: {path} không phải JSON hợp lệ ({error}); bắt đầu với câu trả lời trống (tệp cũ sẽ được sao lưu)',
    en: 'note: {path} is not valid JSON ({error}); starting from empty answers (it will be backed up)',
  },
  'init.badKey': {
    vi: '{path} không phải khoá riêng đọc được ({error})',
    en: '{path} is not a readable private key ({error})',
  },
  'init.badKey.hint': {
    vi: '  chuyển nó đi chỗ khác, hoặc chạy với --new-key (khoá mới cần chứng chỉ mới)',
    en: '  move it away, or run with --new-key (a new key needs a new certificate)',
  },
  'init.refused': {
    vi: 'agent sẽ từ chối cấu hình này ({code}); chưa thay gì',
    en: 'the agent would refuse this configuration ({code}); nothing replaced',
  },
  'next.noKey': { vi: '--cert: chưa có khoá thiết bị ({path})', en: '--cert: there is no device key yet ({path})' },
  'next.noKey.hint': {
    vi: '  chạy init trước, nhờ trung tâm ký CSR nó tạo ra, rồi cài chứng chỉ bằng --cert',
    en: '  run init first, have the CSR it makes signed, then install the certificate with --cert',
  },
  'next.badCert': { vi: 'chứng chỉ {path}: {error}', en: 'certificate {path}: {error}' },
  'next.badCert.hint': {
    vi: '  cần chứng chỉ PEM trung tâm đã ký cho device.csr',
    en: '  expected the PEM certificate the centre signed for device.csr',
  },
  'next.mismatch': {
    vi: 'chứng chỉ {path} không làm cho khoá của hộp này ({key})',
    en: "certificate {path} was not made for this box's key ({key})",
  },
  'next.mismatch.hint': {
    vi: '  subject của nó: {subject}; gửi device.csr của CHÍNH hộp này cho trung tâm',
    en: '  its subject: {subject}; send device.csr of THIS box to the centre',
  },
  'next.expired': { vi: 'chứng chỉ {path} đã hết hạn ngày {date}', en: 'certificate {path} expired on {date}' },
  'next.expired.hint': {
    vi: '  xin trung tâm chứng chỉ mới (hoặc kiểm tra đồng hồ: date)',
    en: '  ask the centre for a new one (or check the clock: date)',
  },
  'next.title': { vi: 'Tiếp theo:', en: 'Next:' },
  'next.otherKey': {
    vi: '  ({path} làm cho khoá khác: không dùng)',
    en: '  ({path} was made for another key: it is not used)',
  },
  'next.csr': {
    vi: 'gửi {csr} cho CA của trung tâm (cat rồi dán), rồi cài chứng chỉ nhận về: sudo loa-provision init --yes{config} --cert /path/to/signed.crt',
    en: "send {csr} to the centre's CA (cat it and paste it), then install what comes back: sudo loa-provision init --yes{config} --cert /path/to/signed.crt",
  },
  'next.csr.why': {
    vi: 'trong lúc chờ, hộp chỉ kết nối bằng mật khẩu, nếu broker cho phép',
    en: 'until then the box connects with its password only, if the broker allows that',
  },
  'next.key': {
    vi: 'thêm khoá của trung tâm: sudo loa-provision init --yes{config} --trusted-key \'<dòng "noc keys" in ra>\'',
    en: "add the centre's key: sudo loa-provision init --yes{config} --trusted-key '<the line \"noc keys\" printed>'",
  },
  'next.key.why': {
    vi: 'không có khoá cho {gaps} thì hộp từ chối tất cả; check báo lỗi cho đến khi thêm',
    en: 'without a key for {gaps} the box refuses every one of them; check fails until then',
  },
  'next.check': {
    vi: 'dừng agent rồi tự kiểm tra: sudo systemctl stop loa-agent; sudo loa-provision check{config} --tone',
    en: 'sudo systemctl stop loa-agent; sudo loa-provision check{config} --tone',
  },
  'next.check.why': {
    vi: 'bước tự kiểm tra tự điều khiển bo mạch IO; cả xã sẽ nghe chuông thử',
    en: 'the self-test drives the IO board itself; the tone is heard in the commune',
  },
  'next.restart': {
    vi: 'khởi động lại agent: sudo systemctl restart loa-agent',
    en: 'sudo systemctl restart loa-agent',
  },
  'next.restart.why': {
    vi: 'agent chỉ đọc cấu hình này khi khởi động',
    en: 'the agent reads this configuration only when it starts',
  },
  'next.register': { vi: 'đăng ký: sudo loa-provision register{config}', en: 'sudo loa-provision register{config}' },
  'next.register.why': {
    vi: 'báo trung tâm {deviceId} đã lắp xong; xác nhận agent đang chạy dùng cấu hình này',
    en: 'tells the centre {deviceId} is installed; confirms the agent now running uses this configuration',
  },
  // --- page-password
  'pw.initFirst': { vi: '  chạy loa-provision init trước', en: '  run loa-provision init first' },
  'pw.port': { vi: '--port "{port}" không phải số cổng', en: '--port "{port}" is not a port' },
  'pw.off': { vi: 'đã tắt trang web trong {path}', en: 'page turned off in {path}' },
  'pw.set': {
    vi: 'đã đặt mật khẩu trang web trong {path} (băm scrypt); phục vụ trên {interfaces} cổng {port}',
    en: 'page password set in {path} (scrypt hash); served on {interfaces} port {port}',
  },
  'pw.backup': { vi: 'cấu hình trước: {path}', en: 'previous configuration: {path}' },
  'pw.restart': {
    vi: 'khởi động lại agent để áp dụng: sudo systemctl restart loa-agent',
    en: 'restart the agent to apply it: sudo systemctl restart loa-agent',
  },
  'pw.ask': { vi: 'mật khẩu trang web', en: 'page password' },
  'pw.again': { vi: 'nhập lại lần nữa', en: 'the same again' },
  'pw.short': {
    vi: 'mật khẩu ngắn hơn {n} ký tự: chưa thay đổi gì',
    en: 'the password is under {n} characters: nothing changed',
  },
  'pw.differ': { vi: 'hai mật khẩu không khớp: chưa thay đổi gì', en: 'the two passwords differ: nothing changed' },
} as const satisfies Record<string, { vi: string; en: string }>;
