#!/usr/bin/env bash
# Generate the embedded prompts in sounds/en/ with espeak-ng and sox:
# 8 kHz, 16-bit signed, mono WAV, the format the media engine plays without
# conversion. Texts follow Asterisk's core-sounds-en.txt wording so dialplans
# and voicemail menus written for Asterisk sound right.
#
# Usage: sounds/make_sounds.sh [OUTDIR]      (default: sounds/en next to this script)
# Needs: espeak-ng, sox (Debian: apt-get install espeak-ng sox)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/en}"
voice="${ESPEAK_VOICE:-en-us}"
speed="${ESPEAK_SPEED:-180}"

for tool in espeak-ng sox; do
    command -v "$tool" >/dev/null || { echo "make_sounds: $tool is not installed" >&2; exit 1; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

# say NAME TEXT: speak TEXT into OUT/NAME.wav (NAME may contain a subfolder).
say() {
    local name="$1" text="$2"
    mkdir -p "$(dirname "$out/$name")"
    espeak-ng -v "$voice" -s "$speed" -w "$tmp/speech.wav" "$text"
    # -D: no dither, so a re-run gives the same bytes (and silence is zeros).
    # silence..reverse twice: trim espeak's leading/trailing silence (keeps the
    # files small and the prompts snappy); norm: the same peak level everywhere.
    # Written to a temp name then renamed: an interrupted run leaves no half file.
    sox -D "$tmp/speech.wav" -r 8000 -c 1 -b 16 -e signed-integer "$tmp/out.wav" \
        silence 1 0.01 0.1% reverse silence 1 0.01 0.1% reverse pad 0.05 0.05 norm -3
    mv "$tmp/out.wav" "$out/$name.wav"
}

# tone NAME ARGS...: a file made by sox alone (no speech).
tone() {
    local name="$1"; shift
    mkdir -p "$(dirname "$out/$name")"
    sox -D -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/out.wav" "$@"
    mv "$tmp/out.wav" "$out/$name.wav"
}

# A real 1 kHz beep, 0.25 s, -6 dBFS, with 5 ms fades against clicks.
tone beep synth 0.25 sine 1000 vol 0.5 fade 0.005 0.25 0.005
# beeperr: a failed transfer (features.conf xferfailsound), two low tones.
tone beeperr synth 0.15 sine 480 vol 0.5 fade 0.005 0.15 0.005 pad 0 0.05 repeat 1
for s in 1 2; do
    tone "silence/$s" trim 0 "$s"
done
# ConfBridge's join and leave sounds: a rising and a falling pair of short tones.
two_tones() {
    local name="$1" f1="$2" f2="$3"
    for f in "$f1" "$f2"; do
        sox -D -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/t$f.wav" \
            synth 0.12 sine "$f" vol 0.4 fade 0.005 0.12 0.005
    done
    sox -D "$tmp/t$f1.wav" "$tmp/t$f2.wav" "$tmp/out.wav"
    mv "$tmp/out.wav" "$out/$name.wav"
}
two_tones confbridge-join 660 880
two_tones confbridge-leave 880 660

while IFS='|' read -r name text; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    say "$name" "$text"
done <<'PROMPTS'
# --- general
tt-weasels|Weasels have eaten our phone system.
demo-echotest|This is the echo test. After the beep, say something and hear it come back. Press the pound key when done.
demo-echodone|The echo test has been completed.
demo-congrats|Congratulations. You have successfully installed and executed your P B X.
demo-thanks|Thank you for trying this demonstration. Goodbye.
hello-world|Hello world.
goodbye|Goodbye!
an-error-has-occurred|An error has occurred.
pls-try-again|Please try again.
invalid|I am sorry, that's not a valid extension. Please try again.
option-is-invalid|That option is invalid.
are-you-still-there|Are you still there?
auth-thankyou|Thank you.
agent-pass|Password?
# --- transfer and parking (features.conf, res_parking.conf)
pbx-transfer|Transfer.
pbx-invalid|I'm sorry, that's not a valid extension. Please try again.
privacy-incorrect|I'm sorry, that number is incorrect.
pbx-invalidpark|There is no call parked at that extension.
pbx-parkingfailed|Parking failed.
# --- digits and the number words SayNumber / SayDigits need
digits/0|zero
digits/1|one
digits/2|two
digits/3|three
digits/4|four
digits/5|five
digits/6|six
digits/7|seven
digits/8|eight
digits/9|nine
digits/10|ten
digits/11|eleven
digits/12|twelve
digits/13|thirteen
digits/14|fourteen
digits/15|fifteen
digits/16|sixteen
digits/17|seventeen
digits/18|eighteen
digits/19|nineteen
digits/20|twenty
digits/30|thirty
digits/40|forty
digits/50|fifty
digits/60|sixty
digits/70|seventy
digits/80|eighty
digits/90|ninety
digits/hundred|hundred
digits/thousand|thousand
digits/million|million
digits/billion|billion
digits/minus|minus
digits/oh|oh
digits/star|star
digits/pound|pound
digits/at|at
digits/oclock|o'clock
digits/a-m|A.M.
digits/p-m|P.M.
digits/today|today
digits/yesterday|yesterday
digits/tomorrow|tomorrow
# --- dates (pbx.say: SayUnixTime, the voicemail envelope)
digits/day-0|Sunday
digits/day-1|Monday
digits/day-2|Tuesday
digits/day-3|Wednesday
digits/day-4|Thursday
digits/day-5|Friday
digits/day-6|Saturday
digits/mon-0|January
digits/mon-1|February
digits/mon-2|March
digits/mon-3|April
digits/mon-4|May
digits/mon-5|June
digits/mon-6|July
digits/mon-7|August
digits/mon-8|September
digits/mon-9|October
digits/mon-10|November
digits/mon-11|December
digits/h-1|first
digits/h-2|second
digits/h-3|third
digits/h-4|fourth
digits/h-5|fifth
digits/h-6|sixth
digits/h-7|seventh
digits/h-8|eighth
digits/h-9|ninth
digits/h-10|tenth
digits/h-11|eleventh
digits/h-12|twelfth
digits/h-13|thirteenth
digits/h-14|fourteenth
digits/h-15|fifteenth
digits/h-16|sixteenth
digits/h-17|seventeenth
digits/h-18|eighteenth
digits/h-19|nineteenth
digits/h-20|twentieth
digits/h-30|thirtieth
digits/h-40|fortieth
digits/h-50|fiftieth
digits/h-60|sixtieth
digits/h-70|seventieth
digits/h-80|eightieth
digits/h-90|ninetieth
digits/h-hundred|hundredth
digits/h-thousand|thousandth
digits/h-million|millionth
digits/h-billion|billionth
# --- voicemail (VoiceMail and VoiceMailMain)
vm-login|Comedian Mail. Mailbox?
vm-password|password
vm-incorrect|Login incorrect.
vm-incorrect-mailbox|Login incorrect. Mailbox?
vm-youhave|you have
vm-INBOX|new
vm-Old|old
vm-Work|work
vm-Family|family
vm-Friends|friends
vm-Urgent|urgent
vm-message|message
vm-messages|messages
vm-no|no
vm-and|and
vm-first|first
vm-last|last
vm-next|Press 6 to play the next message.
vm-prev|Press 4 for the previous message.
vm-repeat|Press 5 to repeat the current message.
vm-nomore|No more messages.
vm-delete|Press 7 to delete this message.
vm-deleted|Message deleted.
vm-undeleted|Message undeleted.
vm-saved|saved
vm-savedto|saved to
vm-savemessage|or 9 to save this message
vm-savefolder|Which folder should I save the message to?
vm-changeto|Change to which folder?
vm-goodbye|Goodbye
vm-intro|Please leave your message after the tone. When done, hang up or press the pound key.
vm-theperson|The person at extension
vm-isunavail|is unavailable
vm-isonphone|is on the phone
vm-nobodyavail|Nobody is available to take your call at the moment.
vm-options|Press 1 to record your unavailable message, press 2 to record your busy message, press 3 to record your name, press 4 to record your temporary greeting, press 5 to change your password, press star to return to the main menu.
vm-newpassword|Please enter your new password followed by the pound key.
vm-reenterpassword|Please re-enter your password followed by the pound key.
vm-passchanged|Your passwords have been changed.
vm-mismatch|The passwords you entered and re-entered did not match. Please try again.
vm-invalidpassword|That is not a valid password. Please try again.
vm-instructions|To look into your messages press 1 now. You may quit voicemail at any time by pressing the pound key.
vm-onefor|Press 1 for
vm-opts|Press 2 to change folders, press 3 for advanced options, press zero for mailbox options.
vm-msginstruct|To hear the next message press 6, to repeat this message press 5, to hear the previous message press 4, to delete or undelete this message press zero, to quit voicemail press pound.
vm-advopts|press 3 for advanced options
vm-helpexit|Press star for help or pound to exit.
vm-starmain|press star to return to the main menu
vm-rec-unv|After the tone say your unavailable message and then press the pound key.
vm-rec-busy|After the tone say your busy message and then press the pound key.
vm-rec-name|After the tone say your name and then press the pound key.
vm-rec-temp|After the tone, say your temporary message, and then press the pound key.
vm-tempgreeting|press 1 to record your temporary greeting
vm-tempgreeting2|press 1 to record your temporary greeting, or press 2 to erase your temporary greeting
vm-tempremoved|Your temporary greeting has been removed.
vm-tmpexists|There is a temporary greeting, which overrides your standard greetings.
vm-review|press 1 to accept this recording, press 2 to listen to it, press 3 to rerecord your message
vm-msgsaved|Your message has been saved.
vm-received|received
vm-from|from
vm-from-extension|message from extension
vm-from-phonenumber|message from phone number
vm-unknown-caller|from an unknown caller
vm-star-cancel|press star to cancel
vm-extension|extension
vm-dialout|please wait while i connect your call
vm-mailboxfull|sorry but the user's mail box can't accept more messages
vm-newuser|Welcome to Comedian Mail. First, I will guide you through a short setup process.
vm-pls-try-again|please try again
vm-sorry|I'm sorry I did not understand your response.
vm-press|press
vm-for|for
vm-then-pound|then press pound
# --- conferences (ConfBridge, Page)
conf-onlyperson|You are currently the only person in this conference.
conf-onlyone|There is currently one other participant in the conference.
conf-thereare|There are currently
conf-otherinparty|other participants in the conference
conf-hasjoin|is now in the conference.
conf-hasleft|has left the conference.
conf-kicked|You have been kicked from this conference
conf-muted|You are now muted
conf-unmuted|You are now unmuted
conf-getpin|Please enter the conference pin number.
conf-invalidpin|That pin is invalid for this conference.
conf-locked|This conference is locked!
conf-lockednow|The conference is now locked
conf-unlockednow|The conference is now unlocked
conf-errormenu|Invalid Choice
conf-waitforleader|The conference will begin when the leader arrives.
conf-leaderhasleft|The leader has left the conference.
conf-placeintoconf|You will now be placed into the conference.
conf-now-muted|The conference is now muted.
conf-now-unmuted|The conference is now unmuted.
confbridge-conf-begin|the conference will now begin
conf-usermenu|Please press 1 to mute or unmute yourself, 4 or 6 to decrease or increase the conference volume, 7 or 9 to decrease or increase your volume, or 8 to exit.
conf-adminmenu|Please press 1 to mute or unmute yourself, 2 to lock or unlock the conference, 3 to eject the last user, 4 or 6 to decrease or increase the conference volume, 7 or 9 to decrease or increase your volume, or 8 to exit.
PROMPTS

echo "make_sounds: wrote $(find "$out" -name '*.wav' | wc -l) prompts to $out"
