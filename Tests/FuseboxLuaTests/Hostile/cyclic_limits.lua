
return {
  name = nil,
  allocate = function(site)
    local t = {}
    t[1] = t
    return {}, { t }
  end,
}
