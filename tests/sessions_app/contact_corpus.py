"""Chat lines for measuring contact-detail detection: ORDINARY is what tutors, children and
parents write in a lesson (maths with numbers, dates, times, prices, decimals, page numbers), where
nothing may be flagged; CONTACT holds attempts to move the conversation elsewhere, each of which
should be. bench/contact_details.py prints the figures; tests/sessions_app/test_contact_details.py
holds them to 0 false positives and at least 95% detected."""

from __future__ import annotations

_HANDWRITTEN = """
Hi Sam, ready for today's lesson?
Yes! I did the homework on page 42.
Great. Let's start with question 3 on page 117.
What is 12 × 8?
96
Correct. Now 144 ÷ 12 = ?
It's 12.
Solve 4x + 7 = 19.
x = 3
Good. What about 3x - 5 = 2x + 9?
x = 14
Pi is roughly 3.14159265
Round 2.71828 to two decimal places.
2.72
The area of a circle with radius 5 cm is 78.54 cm².
Remember: a² + b² = c²
So if a = 6 and b = 8, c = 10.
Our next session is on 12/03/2026 at 16:30.
Can we move it to 2026-03-14 at 4:30pm?
The lesson is 45 minutes, from 17:00 to 17:45.
It costs $35.00 per hour, or £28.50.
The book was €12.99 at the shop.
I scored 87% on the quiz!
Well done, that's up from 72%.
Turn to page 212, exercise 5b.
Read chapter 7, pages 150-165, before Thursday.
Question 14 (a) and (b), please.
1/2 + 1/3 = 5/6
3/4 of 200 is 150.
0.25 as a fraction is 1/4.
Convert 0.375 to a percentage: 37.5%
The mean of 4, 8, 15, 16, 23 and 42 is 18.
The median of 3, 5, 9, 11, 14 is 9.
Write 1,234,567 in words.
One million two hundred thirty-four thousand five hundred sixty-seven.
What's 2 to the power 10? 1024
2^20 = 1048576
The speed of light is 299,792,458 m/s.
Avogadro's number is 6.022 × 10^23.
The Earth is about 149,600,000 km from the Sun.
Let's do long division: 98765 ÷ 5
19753
Multiply 123 by 456.
56088
Sorry, I'll be 5 minutes late.
No problem, see you at 4:05.
The quiz is on Friday 21 March.
I have a test on the 3rd of April.
My exam is on 15/06/2026.
Let's review simultaneous equations: 2x + y = 10, x - y = 2.
x = 4, y = 2
The gradient of y = 3x + 2 is 3.
The y-intercept is (0, 2).
Plot the points (1, 5), (2, 8) and (3, 11).
The line passes through (-2, -4).
Factorise x² + 5x + 6.
(x + 2)(x + 3)
Expand (2x - 1)(x + 4).
2x² + 7x - 4
The quadratic formula is x = (-b ± √(b² - 4ac)) / 2a.
For x² - 6x + 9 = 0, x = 3.
The discriminant is 25 - 24 = 1.
A triangle's angles add up to 180 degrees.
Each interior angle of a hexagon is 120°.
Convert 5 km to metres: 5000 m.
1 mile is about 1.609 km.
There are 3600 seconds in an hour.
And 86400 seconds in a day.
A leap year has 366 days.
The year 2024 was a leap year.
World War II ended in 1945.
The Battle of Hastings was in 1066.
The population of the city is 8,336,817.
Round 3,456,789 to the nearest thousand.
3,457,000
What's 15% of 240?
36
If a shirt costs $24.99 and is 20% off, what do you pay?
$19.99
I got 7 out of 10 right.
Next week we'll cover chapters 8 and 9.
Homework: exercises 3.1 to 3.4.
Section 4.2, problems 1-20, odd numbers only.
I'll send the worksheet through the platform.
Please upload your answers before Monday 9am.
The recording of today's session will be in the app.
Can you explain why 0.999... equals 1?
Because 1/3 = 0.333... and 3 × 1/3 = 1.
The prime factorisation of 360 is 2³ × 3² × 5.
Is 97 a prime number?
Yes, 97 is prime.
The first ten primes: 2, 3, 5, 7, 11, 13, 17, 19, 23, 29.
Fibonacci: 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89.
The 12th Fibonacci number is 144.
LCM of 12 and 18 is 36, GCD is 6.
Simplify 48/64.
3/4
The ratio 15:25 simplifies to 3:5.
Share £120 in the ratio 2:3.
£48 and £72
The bus leaves at 07:45 and arrives at 08:20.
How long is the journey? 35 minutes.
The train timetable says 14:05, 14:35 and 15:05.
My phone died, sorry for the delay!
I'll ask my mum to book the next session.
Mum says Tuesdays at 5 are best.
Dad will pick me up at 6.
The answer in the back of the book is 42.7.
I think the book has a typo on page 88.
Probability of rolling a 6 is 1/6.
Two dice: the probability of a total of 7 is 6/36 = 1/6.
The expected value is 3.5.
Standard deviation of 2, 4, 4, 4, 5, 5, 7, 9 is 2.
Volume of a cube with side 3 cm: 27 cm³.
Surface area: 6 × 9 = 54 cm².
A cylinder with r = 2 and h = 10 has volume 40π ≈ 125.66.
Convert 72 °F to Celsius: 22.2 °C.
Water boils at 100 °C, 212 °F.
sin 30° = 0.5, cos 60° = 0.5.
tan 45° = 1
The hypotenuse is 13 when the legs are 5 and 12.
Write 0.000045 in standard form.
4.5 × 10⁻⁵
And 45,000,000?
4.5 × 10^7
The difference between 1000000 and 999999 is 1.
Count down from 10: 10, 9, 8, 7, 6, 5, 4, 3, 2, 1.
Times tables: 7, 14, 21, 28, 35, 42, 49, 56, 63, 70.
Nine times nine is eighty-one.
Seven eights are fifty-six.
Let me share my screen in the session room.
Can you see the whiteboard?
Yes, I can see it now.
My internet is slow today.
Let's try refreshing the page.
The essay should be 500 to 750 words.
Due date: 28/02/2026.
Chapter 3 of Of Mice and Men, pages 45 to 67.
Shakespeare was born in 1564 and died in 1616.
Romeo and Juliet, Act 2, Scene 2, lines 33 to 49.
The poem has 14 lines, so it's a sonnet.
Rhyme scheme ABAB CDCD EFEF GG.
Spell 'necessary': one collar, two sleeves.
Use a semicolon to join two independent clauses.
The passive voice: the ball was kicked by Tom.
Write a paragraph of about 150 words.
Newton's second law: F = ma.
A 2 kg mass accelerating at 3 m/s² needs 6 N.
The wavelength is 500 nm.
The frequency is 5 × 10^14 Hz.
Ohm's law: V = IR, so 12 V / 4 Ω = 3 A.
Energy = 0.5 × m × v², so 0.5 × 4 × 9 = 18 J.
Density = mass / volume = 200 g / 50 cm³ = 4 g/cm³.
The half-life is 5730 years.
Speed = 120 km / 1.5 h = 80 km/h.
The signal from the sensor drops to 0.3 V.
Draw a number line from -10 to 10.
Order these: -3, 0.5, -1.2, 2, 1/4.
-3, -1.2, 1/4, 0.5, 2
Binary 1011 is 11 in decimal.
Convert 255 to binary: 11111111.
Hexadecimal FF is 255.
127.5 rounded is 128.
Estimate 49 × 51 ≈ 2500.
Exactly 2499.
Great work today, Sam!
Thanks! See you on Thursday at 16:00.
Don't forget your calculator next time.
Please bring a ruler and a protractor.
I'll email your mum the progress report through the school.
Your parents can see the notes in the app.
Let's aim for grade 7 in the mock exam.
The mock is on 10 March at 9:15.
The exam lasts 1 hour 45 minutes.
Paper 2 is calculator, paper 1 is not.
There are 80 marks in total.
You need 53 marks for a grade 6.
I practised 20 questions yesterday.
I got 18 right, 90%!
How many minutes in 2.5 hours? 150.
Convert 3:45 pm to the 24-hour clock: 15:45.
School starts at 8:40 and ends at 15:20.
Lunch is 12:10 to 13:00.
The angle is 37.5 degrees.
Bearings: 045°, 135°, 270°.
The coordinates are (3.5, -2.25).
Sequence: 5, 9, 13, 17 — the nth term is 4n + 1.
The 100th term is 401.
Sum of 1 to 100 is 5050.
The sum of the angles in a pentagon is 540°.
Interest: £500 at 3% for 2 years is £530.45 compound.
Simple interest would be £530.
The price went from $80 to $100, a 25% increase.
Divide 7.2 by 0.08.
90
Multiply 0.6 by 0.4.
0.24
Which is bigger, 0.7 or 0.65?
0.7
The bill was $47.60 and we split it 4 ways: $11.90 each.
We need 2.5 litres of water, 2500 ml.
Tom's height is 1.62 m, Ana's is 158 cm.
Ana is 4 cm shorter.
The recipe needs 350 g of flour for 12 cookies.
For 30 cookies you need 875 g.
The car travels 360 miles on 12 gallons: 30 mpg.
Page 301, question 12, part iii.
Lesson 23 of 40 done!
My student number is on my school card, but I don't need it here.
Class 9B has 28 pupils.
Room 14 is next to the library.
See you after half term.
Happy birthday! You're 13 now?
Yes, born 04/05/2013.
That makes the date 4 May 2013.
In 10 years I'll be 23.
My brother is 3 years older.
The answer is between 1000 and 2000.
It's 1729, the taxicab number.
1729 = 1³ + 12³ = 9³ + 10³
Wow, I didn't know that.
Could we go over the test paper again next week?
Sure, let's plan 30 minutes on it.
I'll add it to the session notes.
Can we add more practice on fractions?
Add 3/8 and 1/4.
5/8
Follow the steps in the worked example on page 64.
Find the value of x in 5(x - 2) = 3x + 4.
x = 7
Can you text the answer in the chat here?
The answer is 7, I typed it above.
Let me call out the numbers: 3, 1, 4, 1, 5, 9.
That's the start of pi: 3.14159.
My calculator shows 3.1415926536.
Scientific notation: 1.5e8 km.
The code for the practice quiz is on the worksheet, question 1.
Teams of 4 will present on Friday.
We split the class into teams of three.
Which team won? Team 2 with 48 points.
The zoom lens on the microscope is 40x.
Zoom in on the graph to see the intercept.
Meet me at the start of the next session with your notes.
We'll meet again on 2026-04-02 at 15:00.
Snap! We both got 24.
I played snap with my sister.
The insta-photo of the graph helped.
Discord in music means notes that clash.
The Telegraph article is about climate.
Please message me here in the chat if you get stuck.
Add 17 and 26 together.
43
Call the unknown angle x.
Call this number n, then n + 1 is the next one.
Text analysis: find three adjectives in the passage.
Follow me through this example step by step.
Skype was used a lot 15 years ago, now we use this app.
My grandma uses WhatsApp, I don't have a phone yet.
Are you on question 5 yet?
Do you have a pencil?
Got it, thanks!
Have you got the answer for part b?
""".strip().splitlines()


def _generated() -> list[str]:
    """Lines in the shapes a lesson repeats: arithmetic, dates and times, prices, pages."""
    lines = []
    for a, b in [(23, 47), (128, 64), (999, 1), (4567, 890), (12345, 6789), (250, 4), (73, 19), (1001, 11)]:
        lines.append(f"What is {a} + {b}? It's {a + b}.")
        lines.append(f"{a} × {b} = {a * b}")
        lines.append(f"{a * b} ÷ {b} = {a}")
    for day, month, year, hour, minute in [
        (3, 4, 2026, 15, 30),
        (17, 9, 2026, 9, 0),
        (28, 2, 2027, 18, 45),
        (1, 12, 2026, 10, 15),
        (30, 6, 2026, 13, 5),
        (11, 11, 2026, 11, 11),
    ]:
        lines.append(f"Next lesson: {day:02d}/{month:02d}/{year} at {hour:02d}:{minute:02d}.")
        lines.append(f"Moved to {year}-{month:02d}-{day:02d} {hour:02d}:{minute:02d} UTC, is that OK?")
        lines.append(f"The deadline is {day}.{month}.{year}, {hour}:{minute:02d}.")
    for price in ["4.99", "12.50", "129.99", "1,249.00", "0.75", "19.95"]:
        lines.append(f"It costs ${price} including tax.")
        lines.append(f"With a 10% discount, £{price} becomes less.")
    for page, question in [(7, 2), (88, 14), (103, 6), (256, 21), (315, 9), (498, 3), (1024, 1)]:
        lines.append(f"Page {page}, question {question}.")
        lines.append(f"Turn to p. {page} and do Q{question} to Q{question + 5}.")
    for n in [1234567, 9876543, 31415926, 1000000007, 2147483647, 4294967296, 123456789]:
        lines.append(f"Is {n:,} divisible by 3?")
        lines.append(f"Write {n} in standard form.")
        lines.append(f"The digit sum of {n} is {sum(int(d) for d in str(n))}.")
    for x in ["0.001", "0.125", "3.75", "12.0625", "99.99", "1.41421356", "2.2360679"]:
        lines.append(f"Round {x} to 1 decimal place.")
        lines.append(f"{x} × 100 = {float(x) * 100:g}")
    for start, end in [("09:00", "09:45"), ("16:30", "17:30"), ("7:15 pm", "8:00 pm"), ("13:05", "13:50")]:
        lines.append(f"Session time: {start} to {end}.")
    for seq in ["2, 4, 8, 16, 32, 64, 128", "1, 4, 9, 16, 25, 36, 49, 64", "3 6 9 12 15 18 21 24"]:
        lines.append(f"Continue the sequence: {seq}, ...")
    return lines


ORDINARY: list[str] = [line for line in _HANDWRITTEN if line.strip()] + _generated()

CONTACT: list[str] = """
call me on 07700 900123
my number is 555-123-4567
text me at (415) 555-0132 after school
+44 7700 900456 is my mobile
ring me: 020 7946 0958
my cell is 202.555.0143
whatsapp me on +1 650 555 0199
You can reach me at 312 555 0187 anytime
My phone number: 6505550143
its 0 7 7 0 0 9 0 0 1 2 3
call 1-800-555-0199
my mum's number is 07911 123456 but text me instead
here's my number 917-555-0123 dont tell anyone
new number: +49 30 901820
number is 5 5 5 - 2 3 4 - 5 6 7 8
five five five one two three four five six seven
call me, zero seven seven zero zero nine zero zero one two three
text 415.555.0100
message me on +61 412 345 678
my number +33 6 12 34 56 78
hit me on 07123 456789
phone: +1 (212) 555-0147
my telegram number is 9175550134
save this number 213-555-0110
email me at sam.parker2013@gmail.com
my email is sammy_p@hotmail.co.uk
write to tutor.tom@outlook.com
mia.quinn@icloud.com is mine
contact me: coolkid123@yahoo.com
send it to my personal email tom_t@protonmail.com instead
sam dot parker at gmail dot com
sam.parker at gmail dot com
sam (at) gmail (dot) com
my gmail is sam.parker2013
my hotmail: mia_quinn09
email tomtutor at outlook dot com
snap: sammy_22
snapchat: mia.q2013
insta @sam.parker
my insta is sam_p_2013
ig @mia.quinn
add me on snap
add me on discord
add me on snapchat, same name as here
my discord is sam#1234
discord: tutortom#9981
follow me on instagram
follow me on tiktok @sammyp
dm me on insta
message me on whatsapp
text me on telegram
hmu on snap
are you on snapchat?
do you have insta?
got discord?
do you use whatsapp?
my snap is coolkid_2013
tiktok: @mia.dances
my kik is tom_t99
find me on facebook
friend me on roblox
my roblox username is SamBuilder2013
add me on xbox, gamertag SamP13
my steam id is samp2013
facetime me later
skype me tonight
whatsapp me
snapchat username sam_p13
wa.me/15550100123
https://wa.me/447700900123
chat.whatsapp.com/AbCdEfGh12345
t.me/tutortom
https://t.me/+AbCdEf123
discord.gg/abcd123
https://discord.com/invite/xyz789
instagram.com/sam.parker13
https://www.tiktok.com/@mia.dances
snapchat.com/add/sammy_22
m.me/tom.tutor
let's move this to whatsapp
can we continue on zoom instead?
let's switch to telegram, it's easier
we can talk on discord tonight
let's chat on skype
join my zoom: https://us02web.zoom.us/j/81234567890
zoom.us/j/9876543210?pwd=abc123
https://meet.google.com/abc-defg-hij
meet.google.com/xyz-abcd-efg
https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc
teams.live.com/meet/9876543210
zoom id 812 3456 7890
zoom meeting id: 81234567890
meeting ID 835 2241 9090 passcode 4321
join.skype.com/abcDEF123
https://whereby.com/tom-tutor
meet.jit.si/tomtutoring
https://facetime.apple.com/join#v=1&p=abc
let's do the next one on google meet, add me on meet
my personal zoom is zoom.us/my/tomtutor
Sam add me on snap its sammy_22 dont tell ur mum
we could talk privately on whatsapp, 07700 900321
whats your number? mine is 404 555 0176
u can txt me 07984 111 222
my socials are @sammy.p on everything
Add me on Snapchat!! username: mia_q
I'm sam.p13 on insta, follow me
my ig is sam.p13
im on discord as SamP#0420
email: parker.family@gmail.com
reach me on signal 415 555 0144
tom.tutor@gmail.com
+1-202-555-0188
my whatsapp is +44 7911 123456
I made a group chat on whatsapp for us, here's the link chat.whatsapp.com/Inv1te
let's hop on a zoom call instead, link: zoom.us/j/5551234567
can u facetime me after school
""".strip().splitlines()
