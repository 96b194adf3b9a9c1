// One message catalogue, Vietnamese and English (issue [7/8] item 2): every text a
// technician or an operator reads on the box's page, in loa-provision (its parts in
// contract/messages-*.ts, spread in below) and in noc watch has both, checked by
// test/unit/messages.test.ts (both present, the same {placeholders}). Vietnamese is the
// default where technicians read.
//
// t(lang, key, vars) fills `{name}` placeholders; a value is inserted as given (the page
// escapes what it renders, a terminal needs nothing).
import { BROKER_MESSAGES } from './messages-broker.js';
import { CHECK_MESSAGES } from './messages-check.js';
import { HARDWARE_MESSAGES } from './messages-hardware.js';
import { INIT_MESSAGES } from './messages-init.js';
import { PROVISION_MESSAGES } from './messages-provision.js';
import { VERDICT_MESSAGES } from './messages-verdicts.js';
import { fill } from './message-fill.js';

export type Lang = 'vi' | 'en';
export const LANGS: readonly Lang[] = ['vi', 'en'];

type Entry = { vi: string; en: string };

/** The page's, noc watch's and the advice texts (the first part of the catalogue). */
const BASE_MESSAGES = {
  // --- the page on the box: frame and login
  'page.title': { vi: 'Loa {deviceId}', en: 'Loudspeaker {deviceId}' },
  'page.password': { vi: 'Mật khẩu', en: 'Password' },
  'page.login': { vi: 'Đăng nhập', en: 'Log in' },
  'page.logout': { vi: 'Đăng xuất', en: 'Log out' },
  'page.refresh': { vi: 'Làm mới', en: 'Refresh' },
  'page.login.wrong': { vi: 'Sai mật khẩu.', en: 'Wrong password.' },
  'page.login.wait': {
    vi: 'Sai quá nhiều lần. Thử lại sau {s} giây.',
    en: 'Too many failed attempts. Try again in {s} s.',
  },
  'page.login.expired': {
    vi: 'Phiên làm việc đã hết hạn: đăng nhập lại.',
    en: 'Your session expired: log in again.',
  },
  'page.csrf': {
    vi: 'Yêu cầu bị từ chối (trang cũ hoặc từ nơi khác). Tải lại trang rồi thử lại.',
    en: 'Request refused (an old page, or sent from elsewhere). Reload the page and try again.',
  },
  'page.lang.other': { vi: 'English', en: 'Tiếng Việt' },
  // --- status
  'page.online': { vi: 'Đã kết nối trung tâm', en: 'Connected to the centre' },
  'page.offline': { vi: 'MẤT KẾT NỐI với trung tâm', en: 'NOT CONNECTED to the centre' },
  'page.offline.why': { vi: 'Lý do: {why}', en: 'Why: {why}' },
  'page.offline.unknown': {
    vi: 'chưa kết nối được lần nào từ khi khởi động',
    en: 'no connection since the agent started',
  },
  'page.playing': { vi: 'Đang phát', en: 'Playing' },
  'page.playing.none': { vi: 'Không phát gì', en: 'Nothing is playing' },
  'page.next': { vi: 'Tiếp theo', en: 'Next' },
  'page.next.none': { vi: 'Không có lịch', en: 'Nothing scheduled' },
  'page.faults': { vi: 'Lỗi thiết bị', en: 'Hardware faults' },
  'page.faults.none': { vi: 'Không có lỗi', en: 'No fault' },
  'page.todo': { vi: 'Cần làm: {what}', en: 'To do: {what}' },
  'page.refusals': { vi: 'Lệnh bị từ chối gần đây', en: 'Recent refusals' },
  'page.refusals.none': { vi: 'Không có', en: 'None' },
  'page.clock': { vi: 'Đồng hồ', en: 'Clock' },
  'page.clock.synced': { vi: 'đã đồng bộ ({source})', en: 'synchronised ({source})' },
  'page.clock.unsynced': {
    vi: 'CHƯA đồng bộ: lịch phát bị giữ lại',
    en: 'NOT synchronised: scheduled items are held',
  },
  'page.clock.unknown': { vi: 'không rõ', en: 'unknown' },
  'page.signal': { vi: 'Sóng', en: 'Signal' },
  'page.signal.none': { vi: 'không có thông tin (mạng dây?)', en: 'not reported (wired?)' },
  'page.disk': { vi: 'Bộ nhớ trống', en: 'Disk free' },
  'page.volume': { vi: 'Âm lượng', en: 'Volume' },
  'page.sound': { vi: 'Mức chuẩn của loa', en: 'Commissioning level' },
  'page.sound.none': { vi: 'chưa ghi', en: 'not recorded' },
  'page.sound.cannot': {
    vi: 'bo mạch này không đo được công suất ra',
    en: 'this board does not measure its output',
  },
  'page.sound.last': { vi: 'Lần phát gần nhất: {what}', en: 'Last play: {what}' },
  // --- actions
  'page.selftest': { vi: 'Tự kiểm tra', en: 'Self-test' },
  'page.selftest.run': { vi: 'Chạy tự kiểm tra', en: 'Run the self-test' },
  'page.selftest.passed': { vi: 'Tự kiểm tra: ĐẠT', en: 'Self-test: PASSED' },
  'page.selftest.failed': { vi: 'Tự kiểm tra: CÓ LỖI', en: 'Self-test: FAILED' },
  'page.tone': { vi: 'Phát chuông thử', en: 'Test tone' },
  'page.tone.level': { vi: 'Mức (%)', en: 'Level (%)' },
  'page.tone.seconds': { vi: 'Thời gian (giây)', en: 'Duration (s)' },
  'page.tone.play': { vi: 'Phát thử', en: 'Play' },
  'page.tone.warn': {
    vi: 'Cả xã sẽ nghe thấy. Lịch phát và tin khẩn luôn được ưu tiên hơn chuông thử.',
    en: 'The whole commune hears it. Scheduled items and emergencies always take precedence.',
  },
  'page.tone.started': {
    vi: 'Đang phát chuông thử {s} giây ở mức {level} %.',
    en: 'Playing the test tone for {s} s at {level} %.',
  },
  'page.tone.busy': {
    vi: 'Không phát: loa đang bận phát nội dung khác.',
    en: 'Not played: the speakers are busy with something else.',
  },
  'page.tone.failed': { vi: 'Không phát được: {why}', en: 'Could not play: {why}' },
  'page.baseline.record': { vi: 'Ghi mức chuẩn (phát chuông 8 giây)', en: 'Record the level (8 s tone)' },
  'page.baseline.replace': { vi: 'Thay mức chuẩn đã có', en: 'Replace the recorded level' },
  'page.baseline.recorded': {
    vi: 'Đã ghi mức chuẩn: độ khuếch đại {gain} dB.',
    en: 'Level recorded: gain {gain} dB.',
  },
  'page.baseline.compared': {
    vi: 'Loa đạt {percent} % mức chuẩn (giữ mức chuẩn cũ).',
    en: 'The amplifier delivers {percent} % of the recorded level (kept).',
  },
  'page.baseline.weak': {
    vi: 'AMPLI YẾU: chỉ đạt {percent} % mức chuẩn. Kiểm tra nguồn, cầu chì và đầu ra của ampli.',
    en: 'WEAK AMPLIFIER: {percent} % of the recorded level. Check its supply, fuse and output.',
  },
  'page.baseline.unmeasured': {
    vi: 'Không ghi được: bo mạch không đo được khi phát.',
    en: 'Not recorded: the board measured nothing while the tone played.',
  },
  'page.site': { vi: 'Vị trí lắp đặt', en: 'Site' },
  'page.site.commune': { vi: 'Xã / phường', en: 'Commune' },
  'page.site.code': { vi: 'Mã xã', en: 'Commune code' },
  'page.site.province': { vi: 'Tỉnh / thành phố', en: 'Province' },
  'page.site.lat': { vi: 'Vĩ độ', en: 'Latitude' },
  'page.site.lon': { vi: 'Kinh độ', en: 'Longitude' },
  'page.site.installer': { vi: 'Người lắp đặt', en: 'Installer' },
  'page.site.gps': { vi: 'Lấy vị trí từ GPS điện thoại', en: "Use the phone's GPS" },
  'page.site.gps.https': {
    vi: 'Trình duyệt chỉ cho dùng GPS qua HTTPS: nhập toạ độ từ ứng dụng bản đồ.',
    en: 'The browser allows GPS only over HTTPS: type the coordinates from a map app.',
  },
  'page.site.save': { vi: 'Lưu', en: 'Save' },
  'page.site.saved': { vi: 'Đã lưu vị trí; trung tâm sẽ thấy ngay.', en: 'Site saved; the centre sees it now.' },
  'page.site.invalid': { vi: 'Không lưu: {why}', en: 'Not saved: {why}' },
  // --- noc watch: the fleet table
  'watch.col.device': { vi: 'HỘP', en: 'DEVICE' },
  'watch.col.status': { vi: 'TRẠNG THÁI', en: 'STATUS' },
  'watch.col.age': { vi: 'TUỔI HB', en: 'HB AGE' },
  'watch.col.state': { vi: 'MÁY', en: 'STATE' },
  'watch.col.playing': { vi: 'ĐANG PHÁT', en: 'PLAYING' },
  'watch.col.faults': { vi: 'LỖI', en: 'FAULTS' },
  'watch.col.outbox': { vi: 'HÀNG ĐỢI', en: 'OUTBOX' },
  'watch.col.schedule': { vi: 'LỊCH', en: 'SCHEDULE' },
  'watch.col.groups': { vi: 'NHÓM', en: 'GROUPS' },
  'watch.status.online': { vi: 'TRỰC TUYẾN', en: 'ONLINE' },
  'watch.status.offline': { vi: 'NGOẠI TUYẾN ({reason})', en: 'OFFLINE ({reason})' },
  'watch.status.stale': { vi: 'IM LẶNG', en: 'STALE' },
  'watch.status.unknown': { vi: 'CHƯA RÕ', en: 'UNKNOWN' },
  'watch.summary': {
    vi: '{boxes} hộp: {online} trực tuyến, {offline} ngoại tuyến, {stale} im lặng, {unknown} chưa rõ | {playing} đang phát | {faulty} có lỗi | hàng đợi sự kiện {outbox}',
    en: '{boxes} boxes: {online} online, {offline} offline, {stale} stale, {unknown} unknown | {playing} playing | {faulty} with faults | outbox backlog {outbox}',
  },
  'watch.lastSeen': { vi: 'lần cuối thấy trước {time}: ', en: 'last seen before {time}: ' },
  'watch.blind': {
    vi: 'MẤT BROKER từ {time} ({s} s), đang kết nối lại: tuổi bên dưới đã cũ, trạng thái là lần cuối thấy',
    en: 'BROKER LOST since {time} ({s} s), reconnecting — ages below are stale, states as last seen',
  },
  'watch.more': { vi: '… còn {n} hộp (noc watch --once để xem hết)', en: '… {n} more (noc watch --once for all)' },
  // --- what to do about a fault (component or component/code)
  'advice.amp': {
    vi: 'Kiểm tra ampli: đèn báo lỗi, nguồn, dây loa; tắt bật lại ampli.',
    en: 'Check the amplifier: its fault light, supply and speaker wiring; power-cycle it.',
  },
  'advice.output': {
    vi: 'Loa không ra tiếng: kiểm tra cầu chì đầu ra ampli và dây loa; chạy tự kiểm tra.',
    en: 'No sound on the line: check the amplifier output fuse and the speaker line; run the self-test.',
  },
  'advice.output/weak': {
    vi: 'Ampli yếu: kiểm tra điện áp nguồn, cầu chì, nấc biến áp; ghi lại mức chuẩn nếu đã thay ampli.',
    en: 'Weak amplifier: check its supply voltage, fuse and taps; record the level again after a replacement.',
  },
  'advice.line': {
    vi: 'Dây loa hở hoặc chập: tìm chỗ đứt hoặc chạm trên đường dây.',
    en: 'The speaker line is open or shorted: find the cut or the short.',
  },
  'advice.mains': {
    vi: 'Mất điện lưới: hộp chạy bằng pin; kiểm tra cầu dao và nguồn.',
    en: 'Mains lost: the box runs on battery; check the breaker and the supply.',
  },
  'advice.door': { vi: 'Cửa tủ đang mở: đóng và khoá tủ.', en: 'The cabinet door is open: close and lock it.' },
  'advice.mcu': {
    vi: 'Bo mạch IO không trả lời: kiểm tra cáp USB và nguồn của bo mạch.',
    en: 'The IO board does not answer: check its USB cable and power.',
  },
  'advice.fm': {
    vi: 'Không thu được đài FM: kiểm tra ăng-ten và tần số.',
    en: 'No FM signal: check the antenna and the frequency.',
  },
  'advice.gpio': {
    vi: 'Lỗi chân GPIO: kiểm tra cấu hình chân và dây rơ-le.',
    en: 'A GPIO line fails: check the pin configuration and the relay wiring.',
  },
  // --- what to do about a refusal (reason)
  'refusal.unknown-key': {
    vi: 'Khoá ký của trung tâm chưa được tin cậy: chạy loa-provision init --trusted-key với khoá "noc keys" in ra.',
    en: 'The centre\'s signing key is not trusted: run loa-provision init --trusted-key with the key "noc keys" prints.',
  },
  'refusal.signature': {
    vi: 'Chữ ký sai: có thể ai đó gửi lệnh giả; báo trung tâm.',
    en: 'Bad signature: someone may be sending forged messages; tell the centre.',
  },
  'refusal.expired': {
    vi: 'Lịch đã hết hạn: kiểm tra đồng hồ của hộp và của trung tâm.',
    en: "The document expired: check the box's clock and the centre's.",
  },
  'refusal.replay': {
    vi: 'Tài liệu cũ bị gửi lại: trung tâm cần gửi phiên bản mới hơn.',
    en: 'An older document was sent again: the centre must send a newer version.',
  },
  'refusal.target': {
    vi: 'Gửi nhầm hộp hoặc nhầm nhóm: kiểm tra mã hộp và nhóm.',
    en: 'Sent to the wrong box or group: check the device id and groups.',
  },
  'refusal.other': { vi: 'Báo trung tâm kèm thông báo trên.', en: 'Tell the centre, with the message above.' },
} as const satisfies Record<string, Entry>;

/** The catalogue: the parts of loa-provision live in files of their own (each under 400 lines). */
export const MESSAGES = {
  ...BASE_MESSAGES,
  ...CHECK_MESSAGES,
  ...VERDICT_MESSAGES,
  ...HARDWARE_MESSAGES,
  ...BROKER_MESSAGES,
  ...PROVISION_MESSAGES,
  ...INIT_MESSAGES,
} as const satisfies Record<string, Entry>;

/** The parts spread into MESSAGES, for the test that no key of one hides a key of another. */
export const MESSAGE_PARTS: readonly Readonly<Record<string, Entry>>[] = [
  BASE_MESSAGES,
  CHECK_MESSAGES,
  VERDICT_MESSAGES,
  HARDWARE_MESSAGES,
  BROKER_MESSAGES,
  PROVISION_MESSAGES,
  INIT_MESSAGES,
];

export type MessageKey = keyof typeof MESSAGES;

export function t(lang: Lang, key: MessageKey, vars: Record<string, string | number> = {}): string {
  return fill(MESSAGES[key][lang], vars);
}

/** `--lang`, then LANG / LC_ALL (vi_VN.UTF-8 → vi), else the fallback. */
export function pickLang(explicit: string | undefined, env: NodeJS.ProcessEnv, fallback: Lang): Lang {
  for (const v of [explicit, env.LC_ALL, env.LANG]) {
    const l = v?.slice(0, 2).toLowerCase();
    if (l === 'vi' || l === 'en') return l;
  }
  return fallback;
}
