/// Lua loaded into every driver's state before the driver: register codecs in
/// the `fusebox` table (docs/drivers.md). Plain Lua over string.pack/unpack.
enum DriverPrelude {
    static let chunkname = "fusebox_driver_prelude.lua"
    static let source = #"""
local fusebox = _G.fusebox or {}
local formats = { int16 = ">i2", uint16 = ">I2", int32 = ">i4", uint32 = ">I4",
                  float32 = ">f", float64 = ">d", int64 = ">i8", uint64 = ">I8" }
local sizes = { int16 = 1, uint16 = 1, int32 = 2, uint32 = 2, float32 = 2, float64 = 4, int64 = 4, uint64 = 4 }

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
  local w = words(regs, i or 1, n, order)
  local v = string.unpack(formats[kind], string.pack(">" .. string.rep("I2", n), table.unpack(w)))
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
  local w = { string.unpack(">" .. string.rep("I2", n), bytes) }
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

_G.fusebox = fusebox
return fusebox
"""#
}
