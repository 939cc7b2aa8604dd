-- Zaptec Go / Go 2 / Pro, through Zaptec's cloud API (no local Modbus).
--
-- The API: log in with OIDC discovery (GET
-- <api>/.well-known/openid-configuration gives the token endpoint) and the
-- password grant. GET /api/chargers/{id}/state lists observations by StateId:
-- 710 operating mode (1 = A no car, 2 and 5 = B connected, 3 = C charging),
-- 718 FinalStopActive, 507-509 A per phase, 513 W, 553 session kWh. The
-- current is a setting: POST /api/chargers/{id}/update {"maxChargeCurrent": A}
-- (0.1 A steps); start and stop are commands: POST .../sendCommand/507
-- (resume) and 506 (stop-final); HTTP 528 there means "nothing to do".
-- An account that may not change settings gets HTTP 403 on update: the
-- driver then runs "passive", starting and stopping only.
--
-- Device configuration (site.yaml):
--   { id: z01, driver: zaptec, api: https://api.zaptec.com, max: 32,
--     settings: { charger_id: "<id from the portal>", username: ..., password: ... } }
-- `api` is also the only host the driver may reach (add others with `allow`).

local OP_MODE, FINAL_STOP, POWER, SESSION_KWH = 710, 718, 513, 553
local CURRENTS = { 507, 508, 509 }
local RESUME, STOP = 507, 506

local function base(dev)
  return (tostring(dev.config.api or "https://api.zaptec.com"):gsub("/+$", ""))
end

-- Every request bounded by settings.timeout (s, default 5).
local function http(dev, request)
  request.timeout = tonumber(dev.config.timeout) or 5
  return dev:http(request)
end

local function decode(body, what)
  local value, err = fusebox.json_decode(body)
  if type(value) ~= "table" then return nil, what .. ": " .. (err or "expected a JSON object or array") end
  return value
end

-- A bearer token, from dev.state while it is valid, else a new login. A
-- refused login is not retried for a minute: the cloud locks accounts that
-- keep failing.
local function token(dev)
  local s, c = dev.state, dev.config
  if s.token and dev.time < (s.token_until or 0) then return s.token end
  if s.login_refused_until and dev.time < s.login_refused_until then
    return nil, "login refused; next attempt in " .. math.ceil(s.login_refused_until - dev.time) .. " s"
  end
  if type(c.username) ~= "string" or type(c.password) ~= "string" then
    return nil, "settings.username and settings.password are required (the Zaptec portal account)"
  end
  if not s.token_endpoint then
    local status, body = http(dev, { url = base(dev) .. "/.well-known/openid-configuration" })
    if not status then return nil, body end
    if status ~= 200 then return nil, "OIDC discovery answered HTTP " .. status end
    local doc, err = decode(body, "OIDC discovery")
    if not doc then return nil, err end
    if type(doc.token_endpoint) ~= "string" then return nil, "OIDC discovery: no token_endpoint" end
    s.token_endpoint = doc.token_endpoint
  end
  local status, body = http(dev, {
    method = "POST", url = s.token_endpoint,
    headers = { ["Content-Type"] = "application/x-www-form-urlencoded" },
    body = fusebox.form{ grant_type = "password", username = c.username, password = c.password },
  })
  if not status then return nil, body end
  if status ~= 200 then
    s.login_refused_until = dev.time + 60
    return nil, "login refused (HTTP " .. status .. " from the token endpoint): check settings.username and settings.password"
  end
  local t, err = decode(body, "token endpoint")
  if not t then return nil, err end
  if type(t.access_token) ~= "string" then return nil, "token endpoint: no access_token" end
  s.token = t.access_token
  -- Renew five minutes early, so a poll never carries a token about to expire.
  s.token_until = dev.time + math.max(60, (tonumber(t.expires_in) or 3600) - 300)
  s.login_refused_until = nil
  return s.token
end

-- An API call with the token; a 401 (expired, revoked) logs in again once.
local function call(dev, method, path, body)
  for attempt = 1, 2 do
    local bearer, err = token(dev)
    if not bearer then return nil, err end
    local status, answer = http(dev, {
      method = method, url = base(dev) .. path, body = body,
      headers = { Authorization = "Bearer " .. bearer, Accept = "application/json",
                  ["Content-Type"] = body and "application/json" or nil },
    })
    if not status then return nil, answer end
    if status ~= 401 or attempt == 2 then return status, answer end
    dev.state.token = nil
  end
end

local function charger_id(dev)
  local id = dev.config.charger_id
  if type(id) ~= "string" or id == "" or id:find("[^%w%-]") then
    return nil, "settings.charger_id is required: the charger's id from the Zaptec portal (letters, digits, '-')"
  end
  return id
end

local function status_of(mode)
  if mode == 1 then return "free" end
  if mode == 2 or mode == 5 then return "occupied" end
  if mode == 3 then return "charging" end
  return "unavailable"   -- 0 unknown, or a charger the cloud has lost
end

return {
  name = "zaptec",
  kind = "charger",
  transport = { type = "http" },

  poll = function(dev)
    local id, bad = charger_id(dev)
    if not id then return nil, bad end
    local s = dev.state
    -- The cloud refreshes a charger's state about once a second: asking more
    -- often shows nothing new and spends the account's request quota.
    if s.reading and s.read_at and dev.time - s.read_at < (tonumber(dev.config.cache) or 1) then return s.reading end
    local path = "/api/chargers/" .. id .. "/state"
    local status, body = call(dev, "GET", path)
    if not status then return nil, body end
    if status ~= 200 then return nil, "GET " .. path .. " answered HTTP " .. status end
    local list, err = decode(body, path)
    if not list then return nil, err end
    local seen = {}
    for _, o in ipairs(list) do
      if type(o) == "table" and math.tointeger(o.StateId) and type(o.ValueAsString) == "string" then
        seen[math.tointeger(o.StateId)] = o.ValueAsString
      end
    end
    if not seen[OP_MODE] then return nil, path .. ": no operating mode (observation 710)" end
    local reading = {
      status = status_of(tonumber(seen[OP_MODE])),
      current = {},
      power = tonumber(seen[POWER]),
      energy = tonumber(seen[SESSION_KWH]),
    }
    for k, state in ipairs(CURRENTS) do reading.current[k] = tonumber(seen[state]) or 0 end
    s.stopped = seen[FINAL_STOP] == "1"
    s.reading, s.read_at = reading, dev.time
    return reading
  end,

  apply = function(dev, amps)
    local id, bad = charger_id(dev)
    if not id then return nil, bad end
    local s = dev.state
    local stop = amps < (tonumber(dev.config.min_current) or 6)
    -- Start and stop are commands, sent when they change something.
    if stop ~= (s.stopped == true) then
      local command = stop and STOP or RESUME
      local status, body = call(dev, "POST", "/api/chargers/" .. id .. "/sendCommand/" .. command)
      if not status then return nil, body end
      if status >= 300 and status ~= 528 then return nil, "sendCommand/" .. command .. " answered HTTP " .. status end
      s.stopped = stop
    end
    if stop or s.passive then return true end
    local update = fusebox.json_encode{ maxChargeCurrent = math.floor(amps * 10 + 0.5) / 10 }
    local status, body = call(dev, "POST", "/api/chargers/" .. id .. "/update", update)
    if not status then return nil, body end
    if status == 403 then
      s.passive = true
      log("zaptec " .. id .. ": this account may not set the charging current (HTTP 403): "
          .. "passive from now on, starting and stopping only")
      return true
    end
    if status >= 300 then return nil, "POST /api/chargers/" .. id .. "/update answered HTTP " .. status end
    return true
  end,
}
