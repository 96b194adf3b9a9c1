// The page of `noc studio` (issue [5/8]): a login form, then the operator's groups, a
// button held to speak, the level of the microphone and the boxes that answered. One HTML
// document with its style and script inline (a nonce in the Content-Security-Policy), no
// build step and no library, a few KB; laid out for a phone's screen first. Vietnamese
// first, English beside it.
//
// The microphone (getUserMedia) is taken at 48 kHz mono; while the button is held, 16-bit
// PCM goes to the studio in ~200 ms POSTs, in order, and the studio encodes, signs and
// publishes it (noc/studio.ts).
const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const STYLE = `
*{box-sizing:border-box}body{font:16px/1.4 system-ui,sans-serif;margin:0;padding:16px;max-width:560px;margin:auto;color:#111;background:#f6f6f3}
h1{font-size:20px;margin:0 0 12px}small{color:#555}label{display:block;margin:8px 0}
input[type=text],input[type=password]{width:100%;padding:12px;font-size:16px;border:1px solid #999;border-radius:8px}
button{font-size:16px;padding:12px 16px;border-radius:8px;border:1px solid #333;background:#fff}
#talk{display:block;width:100%;height:160px;margin:16px 0;font-size:24px;font-weight:600;background:#1b5e20;color:#fff;border:none;touch-action:none;user-select:none}
#talk small{color:inherit;opacity:.85}#talk.on{background:#b71c1c}#meter{height:14px;background:#ddd;border-radius:7px;overflow:hidden}#bar{height:100%;width:0;background:#2e7d32}
.err{color:#b71c1c}ul{padding-left:20px}.groups label{display:flex;gap:8px;align-items:center;padding:6px 0}`;

export function loginPage(nonce: string, message = ''): string {
  return `<!doctype html><html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>loa studio</title><style nonce="${nonce}">${STYLE}</style></head><body>
<h1>Phát trực tiếp <small>live broadcast</small></h1>
${message ? `<p class="err" id="msg">${esc(message)}</p>` : ''}
<form method="post" action="/login">
<label>Tên <small>name</small><input type="text" name="name" id="name" autocomplete="username" required></label>
<label>Mật khẩu <small>password</small><input type="password" name="password" id="password" autocomplete="current-password" required></label>
<button type="submit" id="login">Đăng nhập <small>log in</small></button>
</form></body></html>`;
}

export function studioPage(nonce: string, o: { name: string; groups: string[]; csrf: string }): string {
  const groups = o.groups
    .map((g) => `<label><input type="checkbox" name="g" value="${esc(g)}" checked> ${esc(g)}</label>`)
    .join('');
  return `<!doctype html><html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>loa studio</title><style nonce="${nonce}">${STYLE}</style></head><body>
<h1>Phát trực tiếp <small>live broadcast · ${esc(o.name)}</small></h1>
<div class="groups" id="groups">${groups}</div>
<button id="talk">Giữ để nói<br><small>hold to talk</small></button>
<div id="meter"><div id="bar"></div></div>
<p id="state">Sẵn sàng <small>ready</small></p>
<p>Loa đang nghe <small>listening</small>: <b id="count">0</b></p><ul id="boxes"></ul>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="${esc(o.csrf)}"><button>Đăng xuất <small>log out</small></button></form>
<script nonce="${nonce}">
const CSRF=${JSON.stringify(o.csrf)};
const $=(id)=>document.getElementById(id);
let ctx=null,talking=false,sess=null,starting=null,queue=[],queued=0,chain=Promise.resolve(),poller=null;
const api=(path,body,raw)=>fetch(path,{method:'POST',headers:{'x-csrf-token':CSRF,'content-type':raw?'application/octet-stream':'application/json'},body:raw?body:JSON.stringify(body||{})}).then(async r=>{const j=await r.json().catch(()=>({}));if(!r.ok)throw new Error(j.error||r.statusText);return j;});
function say(t){$('state').textContent=t;}
async function mic(){
  const stream=await navigator.mediaDevices.getUserMedia({audio:{channelCount:1,echoCancellation:true,noiseSuppression:true,autoGainControl:true}});
  ctx=new AudioContext({sampleRate:48000});
  const src=ctx.createMediaStreamSource(stream);
  const node=ctx.createScriptProcessor(2048,1,1);
  node.onaudioprocess=(e)=>{
    const x=e.inputBuffer.getChannelData(0);let s=0;const pcm=new Int16Array(x.length);
    for(let i=0;i<x.length;i++){const v=Math.max(-1,Math.min(1,x[i]));s+=v*v;pcm[i]=v*32767;}
    const db=10*Math.log10(s/x.length+1e-12);$('bar').style.width=Math.max(0,Math.min(100,(db+60)*100/60))+'%';
    if(!talking&&!starting)return;
    queue.push(pcm);queued+=pcm.length;if(queued>=9600)send();
  };
  src.connect(node);node.connect(ctx.destination);
}
function send(){
  if(!queued)return;const all=new Int16Array(queued);let o=0;for(const q of queue){all.set(q,o);o+=q.length;}queue=[];queued=0;
  chain=chain.then(async()=>{const id=sess||await starting;if(id)await api('/api/audio?session='+encodeURIComponent(id),all.buffer,true);}).catch((e)=>say('Lỗi: '+e.message));
}
async function poll(){if(!sess)return;try{const r=await fetch('/api/status?session='+encodeURIComponent(sess)).then(r=>r.json());
  $('count').textContent=r.listening.length;$('boxes').innerHTML='';
  for(const b of r.listening){const li=document.createElement('li');li.textContent=b.deviceId+(b.synced===false?' (giờ chưa đồng bộ)':'');$('boxes').append(li);}
  for(const b of r.refused){const li=document.createElement('li');li.className='err';li.textContent=b.deviceId+': '+b.why;$('boxes').append(li);}}catch(e){}}
async function down(e){e.preventDefault();if(talking)return;$('talk').setPointerCapture(e.pointerId);
  const groups=[...document.querySelectorAll('input[name=g]:checked')].map(i=>i.value);
  if(!groups.length){say('Chọn ít nhất một nhóm (pick a group)');return;}
  talking=true;$('talk').classList.add('on');say('Đang phát… (on air)');
  if(!ctx)await mic();
  starting=api('/api/start',{groups}).then(r=>(sess=r.sessionId)).catch((err)=>{say('Lỗi: '+err.message);talking=false;return null;});
  await starting;starting=null;poller=setInterval(poll,1000);poll();}
async function up(){if(!talking)return;talking=false;$('talk').classList.remove('on');send();
  await chain;if(sess){await api('/api/end?session='+encodeURIComponent(sess)).catch(()=>{});}
  clearInterval(poller);await poll();sess=null;say('Đã kết thúc (ended)');}
$('talk').addEventListener('pointerdown',down);
// The pointer is captured while held: a finger that slides off the button keeps talking until lifted.
for(const ev of ['pointerup','pointercancel'])$('talk').addEventListener(ev,up);
</script></body></html>`;
}
