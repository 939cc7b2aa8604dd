/// Lua loaded into every driver's state before the driver: register codecs in
/// the `fusebox` table (docs/drivers.md). Plain Lua over string.pack/unpack.
enum DriverPrelude {
    static let chunkname = "fusebox_driver_prelude.lua"
    static let source = #"""
local fusebox = _G.fusebox or {}
local formats = { int16 = ">i2", uint16 = ">I2", int32 = ">i4", uint32 = ">I4",
                  float32 = ">f", float64 = ">d", int64 = ">i8", uint64 = ">I8" }
local sizes = { int16 = 1, uint16 = 1, int32 = 2, uint32 = 2, float32 = 2, float64 = 4, int64 = 4, uint64 = 4 }
local word_formats = { ">I2", ">I2I2", nil, ">I2I2I2I2" }
local mathtype = math.type

local function is_word(r) return mathtype(r) == "integer" and r >= 0 and r <= 0xFFFF end

local function words(regs, i, n, order)
  local w = {}
  for k = 1, n do
    local r = regs[i + k - 1]
    if type(r) ~= "number" then error("register " .. (i + k - 1) .. " is missing", 3) end
    w[k] = r
  end
  if order == "low_first" then
    for k = 1, n // 2 do w[k], w[n - k + 1] = w[n - k + 1], w[k] end
  elseif order ~= nil and order ~= "high_first" then
    error("word order must be \"high_first\" or \"low_first\", got " .. tostring(order), 3)
  end
  return w
end

-- The value of the registers regs[i..] as `kind` ("uint32", "float32", ...), in
-- word order `order` ("high_first", the default, or "low_first"), times `scale`.
function fusebox.decode(regs, i, kind, order, scale)
  local n = sizes[kind]
  if not n then error("unknown register type " .. tostring(kind), 2) end
  i = i or 1
  -- What drivers read most, integers of one or two words, is put together by
  -- arithmetic: a poll decodes several every cycle. Anything else, and any
  -- register that is not a plain word, goes through string.pack as before.
  if n <= 2 and kind ~= "float32" and (order == nil or order == "high_first" or order == "low_first") then
    local a, b = regs[i], regs[i + 1]
    if n == 1 and is_word(a) then
      if kind == "int16" and a >= 0x8000 then a = a - 0x10000 end
      return a * (scale or 1)
    elseif n == 2 and is_word(a) and is_word(b) then
      if order == "low_first" then a, b = b, a end
      local v = a << 16 | b
      if kind == "int32" and v >= 0x80000000 then v = v - 0x100000000 end
      return v * (scale or 1)
    end
  end
  local w = words(regs, i, n, order)
  local v = string.unpack(formats[kind], string.pack(word_formats[n], table.unpack(w)))
  return v * (scale or 1)
end

-- The registers for `value` (divided by `scale`) as `kind`, in word order `order`.
function fusebox.encode(value, kind, order, scale)
  local n = sizes[kind]
  if not n then error("unknown register type " .. tostring(kind), 2) end
  local raw = value / (scale or 1)
  if kind ~= "float32" and kind ~= "float64" then raw = math.floor(raw + 0.5) end
  local ok, bytes = pcall(string.pack, formats[kind], raw)
  if not ok then error(tostring(value) .. " does not fit " .. kind, 2) end
  local w = { string.unpack(word_formats[n], bytes) }
  w[n + 1] = nil
  if order == "low_first" then
    for k = 1, n // 2 do w[k], w[n - k + 1] = w[n - k + 1], w[k] end
  end
  return w
end

-- Calls `write` when `seconds` have passed since it last succeeded (or it never
-- ran), by dev.time, remembering when in dev.state[key]: for feeding a
-- charger's watchdog from poll. Returns true, or nil and write's error.
function fusebox.every(dev, key, seconds, write)
  local last = dev.state[key]
  if last ~= nil and dev.time - last < seconds then return true end
  local ok, err = write()
  if not ok then return nil, err end
  dev.state[key] = dev.time
  return true
end

-- The values a configuration describes (the generic drivers): `spec` is
-- { table = "hr" | "ir", address, type, order, scale, count, stride }, where
-- `count` values (default `count`, else 1) start every `stride` registers
-- (default: the type's size). Returns a list of numbers, or nil and an error.
function fusebox.read_values(dev, spec, count)
  if type(spec) ~= "table" or type(spec.address) ~= "number" or spec.address % 1 ~= 0 then
    return nil, "a register spec needs an integer address, got " .. tostring(type(spec) == "table" and spec.address or spec)
  end
  local kind = spec.type or "uint16"
  local size = sizes[kind]
  if not size then return nil, "unknown register type " .. tostring(kind) end
  local n = spec.count or count or 1
  local stride = spec.stride or size
  local total = (n - 1) * stride + size
  local regs, err
  if spec.table == "ir" then regs, err = dev:read_input(spec.address, total)
  elseif spec.table == nil or spec.table == "hr" then regs, err = dev:read_holding(spec.address, total)
  else return nil, "table must be \"hr\" or \"ir\", got " .. tostring(spec.table) end
  if not regs then return nil, err end
  local out = {}
  for k = 0, n - 1 do out[k + 1] = fusebox.decode(regs, 1 + k * stride, kind, spec.order, spec.scale) end
  return out
end

-- ASCII text from `n` registers at regs[i], two characters each, up to a NUL.
function fusebox.ascii(regs, i, n)
  local chars = {}
  for k = i, i + n - 1 do
    local r = regs[k] or 0
    chars[#chars + 1] = string.char(r >> 8, r & 0xFF)
  end
  local s = table.concat(chars)
  return (s:gsub("%z.*$", ""):gsub("%s+$", ""))
end

-- JSON for cloud drivers. Objects become tables with string keys, arrays
-- sequences, null becomes fusebox.null. Errors name the offset.
fusebox.null = setmetatable({}, { __tostring = function() return "null" end })

local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

function fusebox.json_decode(text)
  if type(text) ~= "string" then error("json_decode: expected a string, got " .. type(text), 2) end
  local pos = 1
  local function fail(what) error(string.format("JSON at offset %d: %s", pos, what), 0) end
  local function skip() pos = text:find("[^ \t\r\n]", pos) or #text + 1 end
  local value
  local function str()
    pos = pos + 1
    local parts = {}
    while true do
      local s, e = text:find('["\\]', pos)
      if not s then fail("unterminated string") end
      parts[#parts + 1] = text:sub(pos, s - 1)
      pos = e + 1
      if text:sub(s, s) == '"' then break end
      local c = text:sub(pos, pos)
      if c == "u" then
        local hex = text:match("^%x%x%x%x", pos + 1)
        if not hex then fail("bad \\u escape") end
        parts[#parts + 1] = utf8.char(tonumber(hex, 16))
        pos = pos + 5
      elseif escapes[c] then
        parts[#parts + 1] = escapes[c]
        pos = pos + 1
      else
        fail("bad escape")
      end
    end
    return table.concat(parts)
  end
  function value(depth)
    if depth > 64 then fail("nested deeper than 64") end
    skip()
    local c = text:sub(pos, pos)
    if c == "{" then
      local t = {}
      pos = pos + 1
      skip()
      if text:sub(pos, pos) == "}" then pos = pos + 1 return t end
      while true do
        skip()
        if text:sub(pos, pos) ~= '"' then fail("expected a key") end
        local k = str()
        skip()
        if text:sub(pos, pos) ~= ":" then fail("expected ':'") end
        pos = pos + 1
        t[k] = value(depth + 1)
        skip()
        local d = text:sub(pos, pos)
        pos = pos + 1
        if d == "}" then return t end
        if d ~= "," then fail("expected ',' or '}'") end
      end
    elseif c == "[" then
      local t = {}
      pos = pos + 1
      skip()
      if text:sub(pos, pos) == "]" then pos = pos + 1 return t end
      while true do
        t[#t + 1] = value(depth + 1)
        skip()
        local d = text:sub(pos, pos)
        pos = pos + 1
        if d == "]" then return t end
        if d ~= "," then fail("expected ',' or ']'") end
      end
    elseif c == '"' then
      return str()
    elseif text:find("^true", pos) then pos = pos + 4 return true
    elseif text:find("^false", pos) then pos = pos + 5 return false
    elseif text:find("^null", pos) then pos = pos + 4 return fusebox.null
    else
      -- One quantifier over a short window: the sandbox refuses patterns whose
      -- backtracking could be long, and tonumber does the checking.
      local n = text:sub(pos, pos + 39):match("^[-+%d.eE]+")
      if not n or not tonumber(n) then fail("unexpected " .. (c == "" and "end" or "'" .. c .. "'")) end
      pos = pos + #n
      return tonumber(n)
    end
  end
  local ok, result = pcall(value, 0)
  if not ok then return nil, result end
  skip()
  if pos <= #text then return nil, string.format("JSON at offset %d: text after the value", pos) end
  return result
end

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local named = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
    return named[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

function fusebox.json_encode(v, depth)
  depth = depth or 0
  if depth > 64 then error("json_encode: nested deeper than 64", 2) end
  local t = type(v)
  if v == nil or v == fusebox.null then return "null"
  elseif t == "boolean" then return tostring(v)
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then error("json_encode: " .. tostring(v) .. " is not a JSON number", 2) end
    if math.type(v) == "integer" then return tostring(v) end
    return string.format("%.14g", v)
  elseif t == "string" then return quote(v)
  elseif t == "table" then
    local out = {}
    if #v > 0 or next(v) == nil then
      for i = 1, #v do out[i] = fusebox.json_encode(v[i], depth + 1) end
      return "[" .. table.concat(out, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do
      if type(k) ~= "string" then error("json_encode: an object's keys must be strings", 2) end
      keys[#keys + 1] = k
    end
    table.sort(keys)
    for i, k in ipairs(keys) do out[i] = quote(k) .. ":" .. fusebox.json_encode(v[k], depth + 1) end
    return "{" .. table.concat(out, ",") .. "}"
  end
  error("json_encode: cannot encode a " .. t, 2)
end

-- application/x-www-form-urlencoded, keys sorted (for token requests).
function fusebox.form(fields)
  local function escape(s)
    return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
  end
  local keys = {}
  for k in pairs(fields) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = {}
  for i, k in ipairs(keys) do out[i] = escape(k) .. "=" .. escape(fields[k]) end
  return table.concat(out, "&")
end

_G.fusebox = fusebox
return fusebox
"""#
}
