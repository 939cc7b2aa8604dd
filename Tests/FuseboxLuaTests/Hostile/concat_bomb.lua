
return {
  name = nil,
  allocate = function(site)
    local s = "x"
    while true do s = s .. s end
  end,
}
