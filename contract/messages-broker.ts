// Part of the one message catalogue (contract/messages.ts spreads it into MESSAGES):
// what failed when loa-provision connected to the broker and what to do about it
// (provisioning/broker-explain.ts, broker-target.ts), read in check, register and show.
// A separate file only to keep each under the layout's 400 lines.

export const BROKER_MESSAGES = {
  'broker.none': { vi: 'không có', en: 'none' },
  'broker.systemCas': { vi: 'các CA của hệ thống', en: 'the system CAs' },
  'broker.unreadable': { vi: '{what} {path}: không đọc được ({error})', en: '{what} {path} cannot be read ({error})' },
  'broker.unreadable.hint': {
    vi: 'chạy với quyền root (sudo), hoặc sửa đường dẫn trong cấu hình',
    en: 'run as root (sudo), or fix the path in the config',
  },
  'broker.fallback': {
    vi: 'loa-provision: {url} từ chối MQTT 5 ({refused}); đã kết nối bằng MQTT 3.1.1{agent}',
    en: 'loa-provision: {url} refused MQTT 5 ({refused}); connected with MQTT 3.1.1{agent}',
  },
  'broker.fallback.agent': {
    vi: '; cấu hình của agent đòi MQTT 5 nên agent cũng sẽ bị từ chối: loa-provision init --mqtt-version 3.1.1',
    en: "; the agent's config asks for MQTT 5 and would be refused too: loa-provision init --mqtt-version 3.1.1",
  },
  // --- TLS
  'broker.tls.ca': {
    vi: 'chứng chỉ của broker không do CA mà hộp này tin cậy ký ({code})',
    en: "the broker's certificate is not signed by the CA this box trusts ({code})",
  },
  'broker.tls.ca.hint': {
    vi: 'mqtt.ca ({ca}) không phải CA đã ký chứng chỉ của broker: lấy đúng tệp CA từ trung tâm rồi chạy loa-provision init --ca FILE',
    en: "mqtt.ca ({ca}) is not the CA that signed the broker's certificate: get the right CA file from the centre and run loa-provision init --ca FILE",
  },
  'broker.tls.expired': {
    vi: 'theo đồng hồ của hộp, chứng chỉ của broker đã hết hạn ({code})',
    en: "the broker's certificate is expired by this box's clock ({code})",
  },
  'broker.tls.notYet': {
    vi: 'theo đồng hồ của hộp, chứng chỉ của broker chưa có hiệu lực ({code})',
    en: "the broker's certificate is not valid yet by this box's clock ({code})",
  },
  'broker.tls.clock': {
    vi: 'đồng hồ của hộp có thể sai (bây giờ {now}): sửa đồng bộ giờ trước (xem dòng đồng hồ); nếu giờ đúng thì ',
    en: "the box's clock may be wrong (now {now}): fix time sync first (see the clock line); otherwise ",
  },
  'broker.tls.dates.hint': {
    vi: '{clock}trung tâm phải gia hạn chứng chỉ của broker',
    en: "{clock}the centre must renew the broker's certificate",
  },
  'broker.tls.name': {
    vi: 'chứng chỉ của broker không cấp cho "{host}" ({code})',
    en: 'the broker\'s certificate is not made out to "{host}" ({code})',
  },
  'broker.tls.name.hint': {
    vi: 'dùng trong mqtt.url đúng tên máy mà chứng chỉ ghi (không dùng địa chỉ IP hay tên khác)',
    en: 'use the host name the certificate names in mqtt.url (not an IP address or another alias)',
  },
  'broker.tls.none': { vi: 'không có TLS trên {at} ({why})', en: 'no TLS on {at} ({why})' },
  'broker.tls.none.hint': {
    vi: 'cổng đó dùng MQTT thường: dùng mqtts:// với cổng TLS của broker (thường là 8883), hoặc mqtt:// nếu trung tâm bảo vậy',
    en: "that port speaks plain MQTT: use mqtts:// with the broker's TLS port (usually 8883), or mqtt:// if the centre says so",
  },
  'broker.tls.clientRefused': {
    vi: 'broker từ chối chứng chỉ máy khách của hộp này ({why})',
    en: "the broker refused this box's client certificate ({why})",
  },
  'broker.tls.clientRefused.cert': {
    vi: 'broker không chấp nhận {cert}: có đúng do CA thiết bị của trung tâm ký cho hộp này không? đã hết hạn? (loa-provision show)',
    en: "the broker does not accept {cert}: was it signed by the centre's device CA for this box? expired? (loa-provision show)",
  },
  'broker.tls.clientRefused.none': {
    vi: 'broker đòi TLS hai chiều: nhờ trung tâm ký device.csr rồi cài bằng loa-provision init --cert FILE',
    en: 'the broker requires mutual TLS: have device.csr signed by the centre and install it with loa-provision init --cert FILE',
  },
  'broker.tls.timeout': {
    vi: 'bắt tay TLS với {at} không xong trong {time}',
    en: 'TLS handshake with {at} did not finish within {time}',
  },
  'broker.tls.timeout.hint': {
    vi: 'đường truyền quá chậm hoặc mất gói; hoặc cổng này không phải cổng TLS',
    en: 'the link is too slow or drops packets; or the port is not a TLS port',
  },
  'broker.tls.reset': {
    vi: '{at} đóng kết nối trong lúc bắt tay TLS',
    en: '{at} closed the connection during the TLS handshake',
  },
  'broker.tls.reset.cert': {
    vi: 'có thể broker không chấp nhận chứng chỉ của hộp này, hoặc cổng này không phải cổng TLS của nó',
    en: "the broker may not accept this box's certificate, or the port is not its TLS port",
  },
  'broker.tls.reset.none': {
    vi: 'có thể broker đòi chứng chỉ máy khách (device.csr do trung tâm ký), hoặc cổng này không phải cổng TLS của nó',
    en: 'the broker may require a client certificate (device.csr signed by the centre), or the port is not its TLS port',
  },
  'broker.tls.failed': { vi: 'TLS với {at} thất bại ({why})', en: 'TLS with {at} failed ({why})' },
  'broker.tls.failed.hint': {
    vi: 'kiểm tra mqtt.ca, mqtt.cert và mqtt.key (loa-provision show)',
    en: 'check mqtt.ca, mqtt.cert and mqtt.key (loa-provision show)',
  },
  // --- DNS, TCP
  'broker.dns.notFound': {
    vi: 'không phân giải được "{host}" (ENOTFOUND)',
    en: '"{host}" does not resolve (ENOTFOUND)',
  },
  'broker.dns.notFound.hint': {
    vi: 'kiểm tra tên máy trong mqtt.url có gõ sai không; nếu tên nào cũng lỗi thì hộp không có mạng (dữ liệu 4G, SIM, cáp)',
    en: 'check the host name in mqtt.url for a typo; if every name fails, the box has no working network (4G data, SIM, cable)',
  },
  'broker.dns.noAnswer': { vi: 'DNS không trả lời cho "{host}" ({why})', en: 'no DNS answer for "{host}" ({why})' },
  'broker.dns.noAnswer.hint': {
    vi: 'không có mạng hoặc máy chủ DNS: kiểm tra modem 4G và dữ liệu SIM, hoặc cáp mạng; cat /etc/resolv.conf',
    en: 'no working network or DNS server: check the 4G modem and SIM data, or the cable; cat /etc/resolv.conf',
  },
  'broker.tcp.refused': { vi: '{at} từ chối kết nối (ECONNREFUSED)', en: '{at} refused the connection (ECONNREFUSED)' },
  'broker.tcp.refused.hint': {
    vi: 'không có gì nghe ở cổng {port} bên đó: kiểm tra cổng trong mqtt.url ({usual}) và broker có đang chạy không',
    en: 'nothing listens on port {port} there: check the port in mqtt.url ({usual}) and that the broker is running',
  },
  'broker.tcp.usual.tls': { vi: '8883 cho mqtts', en: '8883 for mqtts' },
  'broker.tcp.usual.plain': { vi: '1883 cho mqtt', en: '1883 for mqtt' },
  'broker.tcp.timeout': { vi: '{at} không trả lời trong {time}', en: 'no answer from {at} within {time}' },
  'broker.tcp.timeout.hint': {
    vi: 'tường lửa chặn hoặc đường truyền đứt: kiểm tra sóng 4G và APN, và tường lửa của trung tâm có cho mạng này vào cổng {port} không',
    en: "a firewall drops the traffic or the link is down: check the 4G signal and APN, and that the centre's firewall lets this network reach port {port}",
  },
  'broker.tcp.noRoute': { vi: 'không có đường tới {at} ({code})', en: 'no route to {at} ({code})' },
  'broker.tcp.noRoute.hint': {
    vi: 'hộp không có đường tới broker: kiểm tra modem 4G hoặc cáp mạng (ip route)',
    en: 'the box has no route to the broker: check the 4G modem or the cable (ip route)',
  },
  'broker.tcp.failed': { vi: 'kết nối TCP tới {at} thất bại ({why})', en: 'TCP connection to {at} failed ({why})' },
  'broker.tcp.failed.hint': {
    vi: 'kiểm tra đường mạng và cổng trong mqtt.url',
    en: 'check the network link and the port in mqtt.url',
  },
  // --- MQTT (CONNACK)
  'broker.mqtt.creds': { vi: 'mqtt.username ({user}) và mật khẩu', en: 'mqtt.username ({user}) and the password' },
  'broker.mqtt.credsFile': {
    vi: 'mqtt.username ({user}) và mật khẩu trong {file}',
    en: 'mqtt.username ({user}) and the password in {file}',
  },
  'broker.mqtt.badLogin': {
    vi: 'broker từ chối thông tin đăng nhập (CONNACK {rc}: sai tên hoặc mật khẩu)',
    en: 'the broker refused the credentials (CONNACK {rc}: bad user name or password)',
  },
  'broker.mqtt.badLogin.hint': {
    vi: 'kiểm tra {creds}; nhập lại bằng loa-provision init --username U --password P',
    en: 'check {creds}; re-enter them with loa-provision init --username U --password P',
  },
  'broker.mqtt.notAuthorised': {
    vi: 'broker từ chối kết nối (CONNACK {rc}: không được phép)',
    en: 'the broker refused the connection (CONNACK {rc}: not authorised)',
  },
  'broker.mqtt.notAuthorised.hint': {
    vi: 'sai thông tin đăng nhập hoặc chứng chỉ, hoặc ACL của broker không cho {clientId} (client id của công cụ này): kiểm tra {creds}, rồi hỏi trung tâm',
    en: "wrong credentials or certificate, or the broker's ACL does not allow {clientId} (this tool's client id): check {creds}, then ask the centre",
  },
  'broker.mqtt.version': {
    vi: 'broker không nói MQTT {version} (CONNACK {rc})',
    en: 'the broker does not speak MQTT {version} (CONNACK {rc})',
  },
  'broker.mqtt.version.hint': {
    vi: 'đặt "mqtt": {"version": "3.1.1"} trong cấu hình (loa-provision init --mqtt-version 3.1.1)',
    en: 'set "mqtt": {"version": "3.1.1"} in the config (loa-provision init --mqtt-version 3.1.1)',
  },
  'broker.mqtt.clientId': {
    vi: 'broker từ chối client id {clientId} (CONNACK {rc})',
    en: 'the broker rejected the client id {clientId} (CONNACK {rc})',
  },
  'broker.mqtt.clientId.hint': {
    vi: 'trung tâm phải cho phép client id dạng <deviceId>{suffix} để cài đặt',
    en: 'the centre must allow client ids of the form <deviceId>{suffix} for provisioning',
  },
  'broker.mqtt.busy': {
    vi: 'broker không sẵn sàng hoặc đang bận (CONNACK {rc})',
    en: 'the broker is unavailable or busy (CONNACK {rc})',
  },
  'broker.mqtt.busy.hint': {
    vi: 'thử lại sau một phút; báo trung tâm nếu vẫn lỗi',
    en: 'retry in a minute; tell the centre if it persists',
  },
  'broker.mqtt.banned': {
    vi: 'broker đã cấm máy khách này (CONNACK 138)',
    en: 'the broker has banned this client (CONNACK 138)',
  },
  'broker.mqtt.banned.hint': {
    vi: 'nhờ trung tâm bỏ cấm cho {clientId}',
    en: 'ask the centre to lift the ban for {clientId}',
  },
  'broker.mqtt.refused': {
    vi: 'broker từ chối kết nối (CONNACK {rc}: {message})',
    en: 'the broker refused the connection (CONNACK {rc}: {message})',
  },
  'broker.mqtt.refused.hint': {
    vi: 'hỏi trung tâm CONNACK {rc} nghĩa là gì với hộp này',
    en: 'ask the centre what CONNACK {rc} means for this box',
  },
  'broker.mqtt.timeout': {
    vi: 'đã kết nối nhưng MQTT không trả lời trong {time}',
    en: 'connected, but no MQTT answer within {time}',
  },
  'broker.mqtt.timeout.hint': {
    vi: 'cổng nhận {transport} nhưng không có MQTT trả lời ở đó: kiểm tra cổng trong mqtt.url',
    en: 'the port accepts {transport} but no MQTT answers there: check the port in mqtt.url',
  },
  'broker.mqtt.closed': {
    vi: 'broker đóng kết nối trước khi trả lời CONNECT ({code})',
    en: 'the broker closed the connection before answering CONNECT ({code})',
  },
  'broker.mqtt.closed.tls': {
    vi: 'thường do chứng chỉ máy khách hoặc thông tin đăng nhập bị từ chối: kiểm tra cả hai (loa-provision show); log của broker ghi lý do',
    en: "typical of a refused client certificate or credentials: check both (loa-provision show); the broker's log says why",
  },
  'broker.mqtt.closed.plain': {
    vi: 'có thể cổng này cần TLS (dùng mqtts://), hoặc broker ngắt máy khách không được phép: kiểm tra thông tin đăng nhập',
    en: 'the port may expect TLS (use mqtts://), or the broker drops unauthorised clients: check the credentials',
  },
  'broker.mqtt.failed': { vi: 'kết nối MQTT thất bại: {message}{code}', en: 'MQTT connection failed: {message}{code}' },
  'broker.mqtt.failed.hint': {
    vi: 'kiểm tra URL broker và thông tin đăng nhập (loa-provision show)',
    en: 'check the broker URL and credentials (loa-provision show)',
  },
} as const satisfies Record<string, { vi: string; en: string }>;
